"""The one small interface every model implements.

A model is built from a frozen settings dataclass, trains from :class:`TrainingData`
(walks and/or train pairs, catalog for side information, a live-AUC monitor),
reports progress through one callback, and returns :class:`Embeddings`: a vector for
every product in the catalog plus masks saying which vectors were trained.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.common import cache
from recsys_core.common.settings import Settings, require


@dataclasses.dataclass
class TrainEvent:
    """One progress report from a training loop.

    ``auc`` / ``auc_seen`` are filled every ``eval_every`` steps and at each epoch end,
    None otherwise. ``epoch_end`` marks the last event of an epoch (where cosine
    schedules restart). ``step`` counts optimiser steps (batches) from 0 over all epochs.
    """

    step: int
    epoch: int
    loss: float
    lr: float
    elapsed: float
    auc: float | None = None
    auc_seen: float | None = None
    epoch_end: bool = False
    total_steps: int | None = None
    ndcg: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Return True from a callback to cancel training; the model stops cleanly at the next
# step and still returns the vectors it has.
Callback = Callable[[TrainEvent], bool | None]

# Live AUC of a set of vectors: (all pairs, seen-only pairs); see TrainingData.monitor.
Monitor = Callable[["Embeddings"], tuple[float, float]]


@dataclasses.dataclass
class TrainingData:
    """Everything a model may train from; plain arrays and frames only.

    Attributes
    ----------
    n_products:
        Size of the catalog; vectors come back with this many rows.
    products:
        The catalog (``Dataset.products``), for side information.
    side_fields:
        Columns of ``products`` usable as side information.
    train_pairs:
        Train pairs: ``a``, ``b``, ``weight``.
    graph:
        Symmetric weighted CSR graph of the train pairs.
    walks:
        int32 walk matrix (n_walks, length), or None for pair-only models.
    monitor:
        Live validation AUC of a set of vectors: ``monitor(embeddings) -> (auc_all,
        auc_seen)``, or None when nobody watches. The pipeline builds it over a sample of
        validation pairs with the run's unseen policy; models never see the labels.
    seen_products:
        Bool mask of products with at least one train pair.
    ranking_monitor:
        Live validation NDCG@10 of a set of vectors under their own scoring rule, asked
        at each epoch end (tuning prunes on it), or None.
    """

    n_products: int
    products: pd.DataFrame
    side_fields: tuple[str, ...]
    train_pairs: pd.DataFrame
    graph: sp.csr_matrix
    walks: np.ndarray | None
    monitor: Monitor | None
    seen_products: np.ndarray
    ranking_monitor: Callable[[Embeddings], float] | None = None

    def live_auc(self, embeddings: Embeddings) -> tuple[float | None, float | None]:
        """(AUC all, AUC seen) from the monitor; (None, None) when there is none."""
        if self.monitor is None:
            return None, None
        return self.monitor(embeddings)


# Score rules of vector models (see Embeddings.score); the in-out rules need context
# vectors, which the skip-gram family saves.
SCORE_RULES = ("cosine", "in-out", "in-out-sym")
PAIR_CHUNK = 1 << 18  # pairs scored at once by Embeddings.score_pairs (dim 128: 128 MB)
# Model settings that change how vectors are scored, not how they are trained: runs that
# differ only in these reuse one training (recsys_core.pipeline).
SCORING_FIELDS = ("score", "popularity_weight")


@dataclasses.dataclass
class Embeddings:
    """Result of training: light, saved without pickle, loadable memory-mapped.

    Attributes
    ----------
    vectors:
        float32 (n_products, dim), in catalog order.
    trained:
        Bool mask: True where the vector was learned from that product's own data.
    cold_start:
        Bool mask: True where an untrained product got a meaningful vector anyway
        (side-information models build it from the product's side information).
    bias, global_bias:
        Set by MF-with-bias models, whose own pair score is
        ``sigmoid(dot(v_a, v_b) + bias_a + bias_b + global_bias)``.
    score:
        The model's one scoring rule (:data:`SCORE_RULES`): "cosine" of the vectors
        ("similar to"), "in-out" (query's vector against the candidate's context vector:
        what skip-gram's objective models, co-occurrence), "in-out-sym" (the mean of both
        directions), "dot-sigmoid" (MF's own prediction), or a subclass's own ("adamic-adar",
        "popularity", ...). Every consumer (AUC, ranking, neighbours, maps, exports) calls
        :meth:`score_pairs` / :meth:`score_block`, so what is evaluated is what is shown.
    context:
        float32 (n_products, dim) context ("output") vectors of the skip-gram family, or
        None. ``vectors`` may be centred for cosine; ``extras["in_mean"]`` is what was
        subtracted, so the raw input vectors the dot products use are ``vectors + in_mean``.
    popularity_weight:
        Optional popularity term: ``popularity_weight * (log(1 + deg a) + log(1 + deg b))``
        added to the rule's score, with train degrees in ``extras["log_degree"]``
        (``log(1 + deg)``). 0 (default) adds nothing.
    extras:
        Named arrays for display (e.g. EGES weights per product and field).
    info:
        Small JSON-able facts (e.g. mean weight per side field, field names).

    Each subclass that scores pairs its own way (``score_pairs``, ``score_block``) has a
    ``kind``; :meth:`save` writes it and :meth:`load` rebuilds that subclass, so a loaded
    vectors object scores itself and evaluation needs no list of model classes.
    """

    kind: ClassVar[str] = "vectors"
    kinds: ClassVar[dict[str, type[Embeddings]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind = cls.__dict__.get("kind", cls.__name__)
        Embeddings.kinds[cls.kind] = cls

    vectors: np.ndarray
    trained: np.ndarray
    cold_start: np.ndarray | None = None
    bias: np.ndarray | None = None
    global_bias: float = 0.0
    score: str = "cosine"
    extras: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    context: np.ndarray | None = None
    popularity_weight: float = 0.0

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        self.trained = np.asarray(self.trained, dtype=bool)
        if self.cold_start is None:
            self.cold_start = np.zeros(len(self.trained), dtype=bool)

    @property
    def usable(self) -> np.ndarray:
        """Products whose vector means something: trained or cold-started."""
        return self.trained | self.cold_start

    def with_scoring(self, score: str, popularity_weight: float = 0.0) -> Embeddings:
        """The same vectors scored by another rule (no copy of the arrays)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(Embeddings)}
        fields.update(score=score, popularity_weight=float(popularity_weight))
        return type(self)(**fields)

    def _input_vectors(self) -> np.ndarray:
        """The raw input vectors the in-out rules use (``vectors`` before centring)."""
        mean = self.extras.get("in_mean")
        if mean is None:
            return self.vectors
        return self.vectors + np.asarray(mean, dtype=np.float32)

    def _input_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of :meth:`_input_vectors`, built for those rows alone: scoring a
        block of pairs or queries never rebuilds the whole table (215 MB at 420k products,
        once per block of a full-catalog ranking). The same float32 sums, bit for bit."""
        mean = self.extras.get("in_mean")
        if mean is None:
            return self.vectors[rows]
        return self.vectors[rows] + np.asarray(mean, dtype=np.float32)

    def _require_context(self) -> np.ndarray:
        if self.context is None:
            raise ValueError(
                f"score {self.score!r} needs context vectors, and these embeddings have none "
                "(only the skip-gram family saves them): choose score='cosine'"
            )
        return self.context

    def score_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The model's own score for pairs (a[i], b[i]): its rule plus the popularity term.

        Scored in chunks of PAIR_CHUNK pairs: the rules gather both products' vectors per
        pair, which for books' 7.95M validation pairs at dim 128 was two 4 GB arrays (and
        the norms' squares as many again); each pair's score is the same either way.
        """
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if len(a) <= PAIR_CHUNK:
            return self._rule_pairs(a, b) + self._popularity_pairs(a, b)
        return np.concatenate(
            [
                self._rule_pairs(a[i : i + PAIR_CHUNK], b[i : i + PAIR_CHUNK])
                + self._popularity_pairs(a[i : i + PAIR_CHUNK], b[i : i + PAIR_CHUNK])
                for i in range(0, len(a), PAIR_CHUNK)
            ]
        )

    def score_block(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """float32 (len(queries), len(candidates)) matrix of the model's score: higher is
        recommended first. The same rule as :meth:`score_pairs` (for MF its logit, which
        is monotone in the pair score and does not saturate into ties)."""
        q = np.asarray(queries, dtype=np.int64)
        c = np.asarray(candidates, dtype=np.int64)
        block = np.asarray(self._rule_block(q, c), dtype=np.float32)
        if self.popularity_weight:
            log_degree = np.asarray(self.extras["log_degree"], dtype=np.float32)
            w = np.float32(self.popularity_weight)
            block += w * (log_degree[q][:, None] + log_degree[c][None, :])
        return block

    def _popularity_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        if not self.popularity_weight:
            return 0.0
        log_degree = np.asarray(self.extras["log_degree"], dtype=np.float64)
        return self.popularity_weight * (log_degree[a] + log_degree[b])

    def _rule_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.score == "dot-sigmoid":
            va, vb = self.vectors[a], self.vectors[b]
            logits = np.einsum("ij,ij->i", va, vb) + self.global_bias
            if self.bias is not None:
                logits = logits + self.bias[a] + self.bias[b]
            return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        if self.score in ("in-out", "in-out-sym"):
            ctx = self._require_context()
            forward = np.einsum("ij,ij->i", self._input_rows(a), ctx[b]).astype(np.float64)
            if self.score == "in-out":
                return forward
            return 0.5 * (forward + np.einsum("ij,ij->i", self._input_rows(b), ctx[a]))
        return cosine_pairs(self.vectors[a], self.vectors[b])

    def _rule_block(self, q: np.ndarray, c: np.ndarray) -> np.ndarray:
        if self.score == "dot-sigmoid":
            block = (
                np.asarray(self.vectors[q], np.float32) @ np.asarray(self.vectors[c], np.float32).T
            )
            if self.bias is not None:
                bias = np.asarray(self.bias, dtype=np.float32)
                block += bias[q][:, None] + bias[c][None, :]
            return block + np.float32(self.global_bias)
        if self.score in ("in-out", "in-out-sym"):
            ctx = self._require_context()
            block = np.asarray(self._input_rows(q), np.float32) @ np.asarray(ctx[c], np.float32).T
            if self.score == "in-out":
                return block
            back = np.asarray(ctx[q], np.float32) @ np.asarray(self._input_rows(c), np.float32).T
            return 0.5 * (block + back)
        return unit_rows(self.vectors[q]) @ unit_rows(self.vectors[c]).T

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"vectors": self.vectors, "trained": self.trained, "cold_start": self.cold_start}
        if self.bias is not None:
            arrays["bias"] = self.bias
        if self.context is not None:
            arrays["context"] = self.context
        for name, arr in arrays.items():
            with cache.atomic_path(folder / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
        if self.extras:
            cache.save_arrays(folder / "extras.npz", **self.extras)
        cache.save_json(
            folder / "embeddings.json",
            {
                "kind": self.kind,
                "global_bias": self.global_bias,
                "score": self.score,
                "popularity_weight": self.popularity_weight,
                "info": self.info,
            },
        )

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> Embeddings:
        """Load saved vectors as the subclass that saved them (its ``kind``)."""
        mode = "r" if mmap else None

        def arr(name: str) -> np.ndarray | None:
            path = folder / f"{name}.npy"
            return np.load(path, mmap_mode=mode, allow_pickle=False) if path.exists() else None

        meta = cache.load_json(folder / "embeddings.json")
        extras_path = folder / "extras.npz"
        return embeddings_class(meta.get("kind", "vectors"))(
            vectors=arr("vectors"),
            trained=arr("trained"),
            cold_start=arr("cold_start"),
            bias=arr("bias"),
            global_bias=meta["global_bias"],
            score=meta["score"],
            extras=cache.load_arrays(extras_path) if extras_path.exists() else {},
            info=meta["info"],
            context=arr("context"),
            popularity_weight=float(meta.get("popularity_weight", 0.0)),
        )

    # --- inner-product form, for approximate nearest-neighbour indexes ---------------

    def ip_form(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Query-side and candidate-side float32 matrices ``Q``, ``C`` with
        ``score_block(q, c) == Q[q] @ C[c].T + (a term constant per query)``, so an
        inner-product index ranks candidates exactly as the model's rule does; None for a
        rule that is no inner product (graph heuristics: exact top-k only).

        cosine: unit rows on both sides; in-out: raw input vectors against context
        vectors; in-out-sym: ``[in, ctx]`` against ``[ctx, in] / 2``; dot-sigmoid (its
        logit): ``[v, 1]`` against ``[v, bias]``; the popularity term adds ``1`` against
        ``popularity_weight * log_degree``. A subclass with its own scoring has none
        unless it defines its own.
        """
        own = type(self)
        if own.score_block is not Embeddings.score_block or own._rule_block is not (
            Embeddings._rule_block
        ):
            return None
        if self.score == "dot-sigmoid":
            v = np.asarray(self.vectors, dtype=np.float32)
            bias = np.zeros(len(v), np.float32) if self.bias is None else self.bias
            q, c = [v, np.ones((len(v), 1), np.float32)], [v, as_column(bias)]
        elif self.score == "in-out":
            q, c = [self._input_vectors()], [self._require_context()]
        elif self.score == "in-out-sym":
            vin, ctx = self._input_vectors(), self._require_context()
            q, c = [vin, ctx], [0.5 * np.asarray(ctx), 0.5 * np.asarray(vin)]
        else:
            unit = unit_rows(self.vectors)
            q, c = [unit], [unit]
        return self._with_popularity(q, c)

    def _with_popularity(
        self, q: list[np.ndarray], c: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(hstack(q), hstack(c))`` with the popularity term's coordinate when it is on."""
        if self.popularity_weight:
            log_degree = np.asarray(self.extras["log_degree"], dtype=np.float32)
            q = [*q, np.ones((len(log_degree), 1), np.float32)]
            c = [*c, as_column(np.float32(self.popularity_weight) * log_degree)]
        return side_by_side(q), side_by_side(c)


def side_by_side(parts: list[np.ndarray]) -> np.ndarray:
    """The parts side by side, as one C-contiguous float32 matrix (a single part is not
    copied when it already is one: catalogs of millions of rows)."""
    if len(parts) == 1:
        return np.ascontiguousarray(parts[0], dtype=np.float32)
    return np.ascontiguousarray(np.hstack([np.asarray(x, np.float32) for x in parts]))


def as_column(values: np.ndarray) -> np.ndarray:
    """A float32 (n, 1) column of ``values``."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1)


def embeddings_class(kind: str) -> type[Embeddings]:
    """The :class:`Embeddings` subclass saved as ``kind`` (importing the model modules)."""
    if kind == Embeddings.kind:
        return Embeddings
    if kind not in Embeddings.kinds:
        from recsys_core.models.registry import model_classes

        model_classes()  # importing the model modules registers their kinds
    if kind not in Embeddings.kinds:
        raise ValueError(f"unknown embeddings kind {kind!r}; known: {sorted(Embeddings.kinds)}")
    return Embeddings.kinds[kind]


def unit_rows(v: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length (zero rows stay zero)."""
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def cosine_pairs(va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity; zero vectors score 0."""
    num = np.einsum("ij,ij->i", va, vb)
    den = np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


class Model(abc.ABC):
    """Base of every model: ``Model(settings).fit(data, callback) -> Embeddings``."""

    name: ClassVar[str]  # the CLI / app name, e.g. "sgns"
    label: ClassVar[str]  # human label, e.g. "PyTorch skip-gram"
    settings_cls: ClassVar[type[Settings]]
    uses_walks: ClassVar[bool] = True  # False: trains from train pairs only
    walk_p: ClassVar[float] = 1.0  # node2vec models override the walk bias
    walk_q: ClassVar[float] = 1.0

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else self.settings_cls()

    @abc.abstractmethod
    def fit(self, data: TrainingData, callback: Callback | None = None) -> Embeddings:
        """Train and return vectors for every product in the catalog."""


class Clock:
    """Elapsed seconds since construction (for TrainEvent.elapsed)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


@dataclasses.dataclass(frozen=True)
class Bound:
    """The allowed range of a numeric setting: ``lo <= value <= hi`` (``lo < value`` when
    ``lo_open``). Settings classes list theirs in ``BOUNDS`` so forms can use them too."""

    lo: float
    hi: float
    lo_open: bool = False

    def text(self) -> str:
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]"

    def holds(self, value: float) -> bool:
        above = value > self.lo if self.lo_open else value >= self.lo
        return above and value <= self.hi


# The bounds every model shares (gensim's names; MF's dim, lr, negatives alike).
MAX_DIM = 4096
MAX_NEGATIVE = 100
MAX_WINDOW = 100
MAX_EPOCHS = 1000
MAX_LR = 10.0
MAX_THREADS = 256
MAX_BATCH = 1_000_000
MAX_EVERY = 10**9
SEED_MAX = 2**32 - 1


def check_settings(settings: Settings) -> None:
    """Check ``settings`` against its class's ``BOUNDS`` and ``CHOICES``.

    Raises :class:`SettingsError` naming the field, the value and what is allowed, before
    anything is allocated (``window=1000000`` once asked for 223 GiB).
    """
    bounds: dict[str, Bound] = getattr(type(settings), "BOUNDS", {})
    choices: dict[str, tuple] = getattr(type(settings), "CHOICES", {})
    hints = {f.name: f.type for f in dataclasses.fields(settings)}
    for name, bound in bounds.items():
        value = getattr(settings, name)
        integer = hints.get(name) in (int, "int")
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        kind = "an integer" if integer else "a number"
        require(
            ok_type and not isinstance(value, bool),
            f"{name} must be {kind} in {bound.text()}, got {value!r}",
        )
        require(
            math.isfinite(value) and bound.holds(value),
            f"{name}={value!r} is out of range: allowed {bound.text()}",
        )
    for name, allowed in choices.items():
        value = getattr(settings, name)
        require(
            value in allowed,
            f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}",
        )


def check_walks(walks: np.ndarray | None, window: int) -> np.ndarray:
    """The walk matrix, or a SettingsError naming what is wrong with it for ``window``."""
    require(walks is not None, "this model trains on walks; TrainingData.walks is None")
    walks = np.asarray(walks)
    require(walks.ndim == 2 and len(walks) > 0, "walks must be a non-empty (n_walks, length) array")
    require(
        window < walks.shape[1],
        f"window={window} is not shorter than the walks ({walks.shape[1]} products each): "
        f"set window to at most {walks.shape[1] - 1}, or make longer walks",
    )
    return walks


def scheduled_lr(
    schedule: str,
    peak: float,
    floor: float,
    epoch: int,
    epochs: int,
    frac: float,
    least: float = 0.0,
) -> float:
    """The one learning-rate schedule of every model, at fraction ``frac`` of ``epoch``.

    "cosine-restart": cosine annealing from ``peak`` to ``floor`` within each epoch,
    restarted at every epoch (the method's). "linear": ``peak`` to ``floor`` over all
    ``epochs`` (word2vec's, gensim's), never below ``least``. "constant": ``peak``.
    Skip-gram passes its ``min_alpha`` as the floor; MF passes 0 and a ``least`` of
    ``1e-4 * peak``, so each keeps the numbers it had.
    """
    frac = min(max(frac, 0.0), 1.0)
    if schedule == "cosine-restart":
        return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * frac))
    if schedule == "linear":
        done = (epoch + frac) / epochs
        return max(peak - (peak - floor) * done, least)
    return peak


class TrainLoop:
    """The bookkeeping every training loop shares: epochs, events, cancellation, live AUC.

    A model drives its own inner loop (numba kernels over slices of pairs, torch batches,
    gensim epochs) and tells the loop what happened: :meth:`add_loss` after each piece of
    work, :meth:`report` when an event is due and :meth:`end_epoch` at each epoch end.
    The loop turns that into :class:`TrainEvent` s (running loss since the last event,
    the epoch's mean loss at its end), asks the live monitor for AUC when told to (never
    building vectors when nobody monitors), and remembers a callback's True as a
    cancellation: :meth:`epochs` stops yielding and ``cancelled`` stays True.
    """

    def __init__(
        self,
        epochs: int,
        data: TrainingData,
        current: Callable[[], Embeddings],
        callback: Callback | None = None,
        eval_every: int = 0,
        total_steps: int | None = None,
    ) -> None:
        self.n_epochs = epochs
        self.data = data
        self.current = current
        self.callback = callback
        self.eval_every = eval_every
        self.total_steps = total_steps
        self.clock = Clock()
        self.cancelled = False
        self._last_eval = 0
        self._loss = [0.0, 0]
        self._epoch_loss = [0.0, 0]

    def epochs(self) -> Iterator[int]:
        """0, 1, ... up to ``epochs - 1``; stops early once a callback cancelled."""
        for epoch in range(self.n_epochs):
            if self.cancelled:
                return
            self._epoch_loss = [0.0, 0]
            yield epoch

    def add_loss(self, total: float, count: int) -> None:
        """Add a summed loss over ``count`` terms (to the running and the epoch's mean)."""
        self._loss[0] += total
        self._loss[1] += count
        self._epoch_loss[0] += total
        self._epoch_loss[1] += count

    def eval_due(self, steps_done: int) -> bool:
        """True (once) when ``steps_done`` crossed a multiple of ``eval_every``."""
        if (
            self.eval_every <= 0
            or steps_done // self.eval_every <= self._last_eval // self.eval_every
        ):
            return False
        self._last_eval = steps_done
        return True

    def live_auc(self) -> tuple[float | None, float | None]:
        """(AUC all, AUC seen) of the current vectors; (None, None) without a monitor."""
        if self.data.monitor is None:
            return None, None
        return self.data.live_auc(self.current())

    def report(self, step: int, epoch: int, lr: float, evaluate: bool = False) -> bool:
        """Emit a mid-epoch event (running loss; AUC when ``evaluate``); True = cancel."""
        auc = auc_seen = None
        if evaluate:
            auc, auc_seen = self.live_auc()
        loss = _mean(*self._loss)
        self._loss = [0.0, 0]
        return self._emit(TrainEvent(step, epoch, loss, lr, self.clock(), auc, auc_seen, False,
                                     self.total_steps))  # fmt: skip

    def end_epoch(self, step: int, epoch: int, lr: float) -> bool:
        """Emit the epoch's last event: its mean loss, a live AUC and, with a ranking
        monitor, the live NDCG@10; True = cancel."""
        auc, auc_seen = self.live_auc()
        ndcg = None
        if self.data.ranking_monitor is not None:
            ndcg = self.data.ranking_monitor(self.current())
        self._loss = [0.0, 0]
        loss = _mean(*self._epoch_loss)
        return self._emit(TrainEvent(step, epoch, loss, lr, self.clock(), auc, auc_seen, True,
                                     self.total_steps, ndcg))  # fmt: skip

    def _emit(self, event: TrainEvent) -> bool:
        if self.callback is not None and self.callback(event):
            self.cancelled = True
        return self.cancelled


def _mean(total: float, count: int) -> float:
    return total / count if count else float("nan")
