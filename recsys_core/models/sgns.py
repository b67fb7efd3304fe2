"""Skip-gram with negative sampling on walks, written for speed (the method's model 5).

One training loop serves plain skip-gram and the side-information models
(:mod:`recsys_core.models.side_info`): walks are cut into chunks, each chunk becomes
(center, context) pairs with subsampling (:mod:`recsys_core.models.skipgram_pairs`),
and a backend applies
word2vec's SGD update to them with hand-derived gradients:

* ``backend="numba"`` (default): a compiled word2vec.c-style loop over blocks of pairs,
  run lock-free by ``threads`` threads that each take the next block when free
  (:mod:`recsys_core.models.hogwild`; Hogwild, as gensim). Fastest measured on CPU.
* ``backend="torch"``: batches of ``batch_size`` pairs, gathers plus ``index_add_`` (no
  autograd, no optimiser object). With ``shared_negatives`` every group of
  ``negative_group`` consecutive pairs shares its negative draws, which turns the negative
  scores into small matrix products.

Plain skip-gram has separate center (``W_in``, uniform in +-0.5/dim) and context
(``W_out``, zeros) tables, as word2vec; the vectors returned are the center table.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from recsys_core.common.settings import Settings, require
from recsys_core.models import sgns_kernels as K
from recsys_core.models.base import (
    MAX_BATCH,
    MAX_DIM,
    MAX_EPOCHS,
    MAX_EVERY,
    MAX_LR,
    MAX_NEGATIVE,
    MAX_THREADS,
    MAX_WINDOW,
    SCORE_RULES,
    SEED_MAX,
    Bound,
    Callback,
    Embeddings,
    Model,
    TrainingData,
    TrainLoop,
    check_settings,
    check_walks,
    scheduled_lr,
)
from recsys_core.models.hogwild import HogwildPool
from recsys_core.models.skipgram_pairs import (
    NegativeSampler,
    skipgram_pairs,
    subsample_keep_prob,
    token_counts,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

LR_SCHEDULES = ("linear", "cosine-restart")
BACKENDS = ("numba", "torch")
# Walk tokens per chunk: ~2M pairs at window 5, a few tens of MB of pair arrays.
CHUNK_TOKENS = 400_000


@dataclasses.dataclass(frozen=True)
class SkipGramSettings(Settings):
    """Hyper-parameters, with gensim's names where gensim has them.

    Parameters
    ----------
    vector_size, window, negative, epochs:
        As gensim: dimension, maximum context distance, negatives per pair, passes.
    alpha, min_alpha:
        Start and end learning rate (gensim's names).
    sample:
        Subsampling threshold for frequent products (0 = off).
    lr_schedule:
        "linear": alpha -> min_alpha over all epochs (word2vec, gensim; the default: it
        measured as well as or better than restarts). "cosine-restart": the method's
        cosine annealing from alpha to min_alpha, restarted every epoch.
    reduced_window:
        word2vec's dynamic window (each center draws its window from 1..window).
    batch_size:
        Pairs per optimiser step (torch) / per counted step (numba).
    shared_negatives, negative_group:
        torch backend only: groups of ``negative_group`` pairs share ``negative`` draws.
    center_negatives:
        numba backend only: the pairs of one center occurrence (its whole window) share
        one draw of negatives, so their rows are fetched once per center instead of once
        per pair. Off by default: 1.6x faster and better at one epoch (200k products),
        but after 5 epochs 0.003 (built-in catalog) to 0.019 (MovieLens-100k) AUC lower
        (bench/README.md "Training: our skip-gram against gensim").
    eval_every:
        Steps between validation AUC reports (also reported at each epoch end; 0 = epoch
        ends only).
    report_every:
        Steps between loss reports.
    backend:
        "numba" (default, fastest) or "torch".
    init_scale:
        Center vectors start uniform in +-init_scale/vector_size: 0.5 is word2vec.c's and
        the method's; gensim 4 uses 1.0. On popularity-skewed data the cosine of rarely
        trained products depends on it. 0.5 stays the default: with centred vectors (below)
        it is as good or better everywhere measured, while 0.1, which helps raw vectors on
        MovieLens-100k (0.754 -> 0.773), fails at one epoch (5k catalog 0.912 -> 0.872;
        bench/README.md "Skip-gram defaults after centring").
    center_vectors:
        Return the vectors with the mean of the trained ones subtracted (True, default).
        Skip-gram's center vectors share one common direction that grows with product
        popularity (|cos| to the mean direction ~0.99 a fifth into the first epoch on the
        5,000-product synthetic catalog); raw cosines then rank pairs by that direction,
        not by what the vectors learned: the live AUC rose to 0.75, fell below chance
        (0.46) and only then rose, and the final AUC stayed lower (5 epochs: 0.899 raw,
        0.917 centred; 1 epoch: 0.839 / 0.928 on seen pairs). Removing the mean is the
        first step of Mu & Viswanath's "all-but-the-top" post-processing; False gives the
        raw table, as word2vec and gensim do.
    seed, threads:
        Seed of every draw; CPU threads (one thread = bit-for-bit reproducible).
    ns_exponent:
        Exponent of the unigram distribution negatives are drawn from (gensim's name):
        0.75 is word2vec's; 0 (the default) draws negatives uniformly, so popular products
        are not pushed away from everything and the in-out score keeps what the walks
        say about them.
    score:
        The scoring rule of the vectors (:data:`~recsys_core.models.base.SCORE_RULES`):
        "cosine" of the input vectors ("similar to"), "in-out" (the default: the query's
        input vector against the candidate's context vector, what the objective models),
        "in-out-sym" (both directions averaged). Changing it re-scores a finished
        training. Default and ``ns_exponent`` chosen on the validation part of the
        built-in catalog and MovieLens-100k (``python -m bench.scoring``;
        bench/README.md "Scoring chosen on validation"): validation NDCG@10 0.1525 and
        0.0608 for in-out at exponent 0, against 0.0321 and 0.0263 for the cosine at
        0.75 that the method used.
    popularity_weight:
        Weight of an optional popularity term, ``w * (log(1+deg a) + log(1+deg b))`` on the
        train graph, added to the score; changing it re-scores a finished training.
    """

    vector_size: int = 128
    window: int = 5
    negative: int = 5
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    sample: float = 1e-3
    lr_schedule: str = "linear"
    reduced_window: bool = True
    batch_size: int = 4096
    shared_negatives: bool = True
    negative_group: int = 64
    center_negatives: bool = False
    eval_every: int = 1000
    report_every: int = 50
    backend: str = "numba"
    init_scale: float = 0.5
    center_vectors: bool = True
    seed: int = 0
    threads: int = 2
    ns_exponent: float = 0.0
    score: str = "in-out"
    popularity_weight: float = 0.0

    # 2: two-pass pair update on a HogwildPool (no barrier), center_negatives
    # 3: context vectors, train degrees and the centring shift saved for the score rules
    # 4: cold-start products get context vectors from their side values (side-info models)
    CODE_VERSION: ClassVar[int] = 4

    BOUNDS: ClassVar[dict[str, Bound]] = {
        "vector_size": Bound(1, MAX_DIM),
        "window": Bound(1, MAX_WINDOW),
        "negative": Bound(1, MAX_NEGATIVE),
        "epochs": Bound(1, MAX_EPOCHS),
        "alpha": Bound(0, MAX_LR, lo_open=True),
        "min_alpha": Bound(0, MAX_LR),
        "sample": Bound(0, 1),
        "batch_size": Bound(1, MAX_BATCH),
        "negative_group": Bound(1, MAX_BATCH),
        "eval_every": Bound(0, MAX_EVERY),
        "report_every": Bound(1, MAX_EVERY),
        "init_scale": Bound(0, 100, lo_open=True),
        "seed": Bound(0, SEED_MAX),
        "threads": Bound(1, MAX_THREADS),
        "ns_exponent": Bound(-1, 2),
        "popularity_weight": Bound(-10, 10),
    }
    CHOICES: ClassVar[dict[str, tuple]] = {
        "lr_schedule": LR_SCHEDULES,
        "backend": BACKENDS,
        "score": SCORE_RULES,
    }

    def validate(self) -> None:
        check_settings(self)
        require(
            self.min_alpha <= self.alpha,
            f"min_alpha must be between 0 and alpha ({self.alpha}), got {self.min_alpha}",
        )


@dataclasses.dataclass
class CenterTables:
    """How center vectors are built: plain (``slots`` None) or a weighted sum of rows.

    ``table`` holds the rows (plain: one per product). With ``slots`` (n_products, S),
    product v's center is ``sum_s softmax(logits[v])_s * table[slots[v, s]]`` over slots
    >= 0. ``weight_lr`` scales the logits' step (0 keeps them at 0: an equal-weighted
    mean); they start learning after ``weight_warmup`` of training (a fraction).
    """

    table: np.ndarray
    slots: np.ndarray | None = None
    logits: np.ndarray | None = None
    weight_lr: float = 0.0
    weight_warmup: float = 0.0
    normalise_step: bool = True

    def weights(self) -> np.ndarray:
        """(n_products, S) softmax weights (plain: all ones, one slot)."""
        if self.slots is None:
            return np.ones((len(self.table), 1), dtype=np.float32)
        return K.softmax_rows(self.logits, self.slots)

    def centers(self) -> np.ndarray:
        """Center vector of every product."""
        if self.slots is None:
            return self.table
        rows = np.arange(len(self.slots), dtype=np.int64)
        return K.combine_rows(self.table, self.slots, self.weights(), rows)

    def logit_step(self, progress: float) -> float:
        """The logits' step factor at ``progress`` (fraction of all training done)."""
        return self.weight_lr if progress >= self.weight_warmup else 0.0


def lr_at(settings: SkipGramSettings, epoch: int, frac: float) -> float:
    """Learning rate at fraction ``frac`` of epoch ``epoch`` (alpha down to min_alpha)."""
    return scheduled_lr(
        settings.lr_schedule, settings.alpha, settings.min_alpha, epoch, settings.epochs, frac
    )


def init_center_table(
    rows: int, dim: int, rng: np.random.Generator, scale: float = 0.5
) -> np.ndarray:
    """Input vectors uniform in +-scale/dim (word2vec.c: 0.5, gensim 4: 1.0)."""
    table = rng.random((rows, dim), dtype=np.float32)
    return ((table - 0.5) * (2.0 * scale / dim)).astype(np.float32)


def scored_embeddings(
    vectors: np.ndarray,
    context: np.ndarray,
    trained: np.ndarray,
    settings: SkipGramSettings,
    data: TrainingData,
    cold_start: np.ndarray | None = None,
    live: dict[str, np.ndarray] | None = None,
    **fields: object,
) -> Embeddings:
    """Skip-gram-family embeddings with what every score rule needs.

    ``vectors`` are the raw input vectors; they are centred (``center_vectors``) for the
    cosine rule, and the shift is kept as ``extras["in_mean"]`` so the in-out rules score
    the raw vectors the objective trained. ``context`` is the output table; train degrees
    go to ``extras["log_degree"]`` for the popularity term.

    ``live`` (a dict the caller keeps from call to call) makes embeddings for the live
    monitors alone, valid only until training goes on: the centred vectors are written
    into a buffer kept in it and the tables are shared, not copied. A live evaluation
    every few hundred steps then allocates nothing; fresh copies of two 215 MB tables
    (420k products) each time, page faults included, cost more than training itself
    (bench/README.md "The app at electronics scale").
    """
    extras = dict(fields.pop("extras", {}) or {})  # type: ignore[call-overload]
    if settings.center_vectors:
        buffer = None
        if live is not None:
            buffer = live.get("vectors")
            if buffer is None or buffer.shape != vectors.shape:
                buffer = live["vectors"] = np.empty(vectors.shape, dtype=np.float32)
        out = centred(vectors, trained, also=cold_start, out=buffer)
        shift = trained if cold_start is None else (trained | cold_start)
        if np.any(shift):
            row = int(np.flatnonzero(shift)[0])
            extras["in_mean"] = (vectors[row] - out[row]).astype(np.float32)
    elif live is not None:
        out = np.asarray(vectors, dtype=np.float32)
    else:
        out = np.array(vectors, dtype=np.float32, copy=True)
    log_degree = live.get("log_degree") if live is not None else None
    if log_degree is None:
        degree = np.diff(data.graph.indptr) if data.graph is not None else np.zeros(len(out))
        log_degree = np.log1p(degree).astype(np.float32)
        if live is not None:
            live["log_degree"] = log_degree
    extras["log_degree"] = log_degree
    return Embeddings(
        vectors=out,
        trained=trained,
        cold_start=cold_start,
        context=np.asarray(context, dtype=np.float32)
        if live is not None
        else np.array(context, dtype=np.float32, copy=True),
        score=settings.score,
        popularity_weight=settings.popularity_weight,
        extras=extras,
        **fields,  # type: ignore[arg-type]
    )


def centred(
    vectors: np.ndarray,
    trained: np.ndarray,
    also: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of ``vectors`` with the mean of the trained rows subtracted from them.

    Rows in ``also`` (e.g. cold-start vectors built from trained side embeddings) are
    shifted by the same mean; other rows (untrained, random) are left as they are.
    ``out`` (C-ordered float32, the shape of ``vectors``) receives the copy instead of a
    new array.
    """
    if out is None:
        # C order whatever ``vectors``' order: the mean below sums rows in the order the
        # gathered copy it replaces did
        out = np.array(vectors, dtype=np.float32, copy=True, order="C")
    else:
        np.copyto(out, vectors, casting="same_kind")
    if trained is None or not np.any(trained):
        return out
    shift = trained if also is None else (trained | also)
    # The same float32 mean and differences as ``out[shift] -= out[trained].mean(0)``,
    # bit for bit (rows summed in the same order), without gathering the rows into fresh
    # copies and scattering them back: at 420k x 128 each copy took up to seconds on a
    # busy machine, page faults included, and the live monitors centre 170 times an epoch.
    mean = np.mean(out, axis=0, where=np.asarray(trained, dtype=bool)[:, None])
    np.subtract(out, mean, out=out, where=np.asarray(shift, dtype=bool)[:, None])
    return out


def train_skipgram(
    data: TrainingData,
    settings: SkipGramSettings,
    centers: CenterTables,
    w_out: np.ndarray,
    make_embeddings: Callable[[], Embeddings],
    callback: Callback | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """The shared training loop; updates ``centers`` and ``w_out`` in place.

    Walks are cut into chunks of ~``CHUNK_TOKENS`` tokens, each chunk into (center,
    context) pairs, and the pairs into slices of ``batch_size * report_every`` handed to
    a backend; an event follows every slice (:class:`TrainLoop`).
    Returns a few facts for ``Embeddings.info`` (pairs trained, seconds, cancelled).
    """
    s = settings
    walks = check_walks(data.walks, s.window)
    rng = rng if rng is not None else np.random.default_rng(s.seed)
    counts = token_counts(walks, data.n_products)
    keep = subsample_keep_prob(counts, s.sample) if s.sample > 0 else None
    sampler = NegativeSampler(counts, power=s.ns_exponent, rng=rng)
    backend_cls = _NumbaBackend if s.backend == "numba" else _TorchBackend
    backend = backend_cls(centers, w_out, sampler, s)
    loop = TrainLoop(s.epochs, data, make_embeddings, callback, s.eval_every)
    try:
        pairs_done = _run_epochs(walks, s, rng, keep, backend, loop, centers)
    finally:
        backend.close()
    seconds = loop.clock()
    return {
        "pairs": int(pairs_done),
        "seconds": float(seconds),
        "pairs_per_second": float(pairs_done / seconds) if seconds > 0 else 0.0,
        "cancelled": bool(loop.cancelled),
        "backend": s.backend,
    }


def _run_epochs(
    walks: np.ndarray,
    s: SkipGramSettings,
    rng: np.random.Generator,
    keep: np.ndarray | None,
    backend: _Backend,
    loop: TrainLoop,
    centers: CenterTables,
) -> int:
    """Every epoch of :func:`train_skipgram`: chunks -> pairs -> slices -> events.

    Returns the number of pairs trained.
    """
    chunk_walks = max(1, CHUNK_TOKENS // walks.shape[1])
    slice_pairs = s.batch_size * s.report_every
    step = pairs_done = 0
    lr = lr_at(s, 0, 0.0)
    for epoch in loop.epochs():
        order = rng.permutation(len(walks))
        epoch_pairs = 0
        for start in range(0, len(walks), chunk_walks):
            chunk = walks[order[start : start + chunk_walks]]
            c, x = skipgram_pairs(chunk, s.window, rng, keep, s.reduced_window)
            if loop.total_steps is None:
                # first chunk: extrapolate, so progress bars have a total from the start
                per_epoch = len(c) * len(walks) / max(len(chunk), 1)
                loop.total_steps = max(1, int(per_epoch * s.epochs) // s.batch_size)
            f0 = start / len(walks)
            f1 = min(len(walks), start + chunk_walks) / len(walks)
            for lo in range(0, len(c), slice_pairs):
                hi = min(len(c), lo + slice_pairs)
                frac0 = f0 + (f1 - f0) * lo / len(c)
                frac1 = f0 + (f1 - f0) * hi / len(c)
                lr0, lr = lr_at(s, epoch, frac0), lr_at(s, epoch, frac1)
                logit_step = centers.logit_step((epoch + frac0) / s.epochs)
                seed = int(rng.integers(0, 2**62))
                loop.add_loss(*backend.train(c[lo:hi], x[lo:hi], lr0, lr, logit_step, seed))
                pairs_done += hi - lo
                epoch_pairs += hi - lo
                step = pairs_done // s.batch_size
                evaluate = loop.eval_due(step)
                if evaluate:  # the live AUC scores every pair handed over so far
                    loop.add_loss(*backend.wait())
                if loop.report(step, epoch, lr, evaluate=evaluate):
                    break
            if loop.cancelled:
                break
        if loop.cancelled:
            backend.cancel()
            break
        loop.add_loss(*backend.wait())
        # the epoch's real size refines the estimate for the epochs still to come
        steps_per_epoch = max(1, epoch_pairs // s.batch_size)
        loop.total_steps = max(step, step + steps_per_epoch * (s.epochs - epoch - 1))
        loop.end_epoch(step, epoch, lr)
    return pairs_done


class _Backend(abc.ABC):
    """One way to train slices of (center, context) pairs in place on the numpy tables.

    :func:`train_skipgram` builds one with the center tables, the output table, the
    negative sampler and the settings, then calls :meth:`train` once a slice.
    """

    def __init__(
        self,
        centers: CenterTables,
        w_out: np.ndarray,
        sampler: NegativeSampler,
        s: SkipGramSettings,
    ) -> None:
        self.ct, self.s = centers, s
        self._prepare(w_out, sampler)

    @abc.abstractmethod
    def _prepare(self, w_out: np.ndarray, sampler: NegativeSampler) -> None:
        """Hold what :meth:`train` needs of the output table and the sampler."""

    @abc.abstractmethod
    def train(
        self, c: np.ndarray, x: np.ndarray, lr0: float, lr1: float, logit_step: float, seed: int
    ) -> tuple[float, int]:
        """Train one slice of pairs; returns (summed BCE, terms summed) of finished work.

        A backend may return before the slice is done; :meth:`wait` finishes it.
        """

    def wait(self) -> tuple[float, int]:
        """Finish every slice handed to :meth:`train`; (summed BCE, terms) of the rest."""
        return 0.0, 0

    # optional hooks: a synchronous backend (torch) has nothing queued and nothing to free
    def cancel(self) -> None:  # noqa: B027
        """Drop the work not started yet."""

    def close(self) -> None:  # noqa: B027
        """Release threads or other resources."""


class _NumbaBackend(_Backend):
    """Compiled kernels on a :class:`HogwildPool`: no barrier between threads.

    :meth:`train` cuts a slice into blocks of ``BLOCK_PAIRS``, queues them and returns once
    the previous slice's blocks are done, so the threads always have the current slice to
    work on while the caller cuts the next one (and reports the loss that has finished).
    """

    BLOCK_PAIRS = 16_384

    def _prepare(self, w_out: np.ndarray, sampler: NegativeSampler) -> None:
        self.w_out = w_out
        self.accept, self.alias = sampler.accept, sampler.alias
        # sample the loss on ~1 pair in 16: enough for a smooth curve, ~free
        self.loss_every = 16
        self.pool = HogwildPool(self.s.threads)

    def train(
        self, c: np.ndarray, x: np.ndarray, lr0: float, lr1: float, logit_step: float, seed: int
    ) -> tuple[float, int]:
        """Queue one slice; returns the loss of the blocks finished meanwhile."""
        n = len(c)
        previous = self.pool.submitted
        for b, lo in enumerate(range(0, n, self.BLOCK_PAIRS)):
            hi = min(n, lo + self.BLOCK_PAIRS)
            a0, a1 = lr0 + (lr1 - lr0) * lo / n, lr0 + (lr1 - lr0) * hi / n
            self.pool.submit(self._job(c[lo:hi], x[lo:hi], a0, a1, logit_step, seed + b))
        self.pool.wait(previous)
        loss = self.pool.take_loss()
        if loss[1] == 0:
            # nothing left to report (the first slice, or the first after a wait): wait
            # for this one, so that every event has a loss
            self.pool.wait()
            loss = self.pool.take_loss()
        return loss

    def wait(self) -> tuple[float, int]:
        self.pool.wait()
        return self.pool.take_loss()

    def cancel(self) -> None:
        self.pool.cancel()

    def close(self) -> None:
        self.pool.close()

    def _job(
        self, c: np.ndarray, x: np.ndarray, lr0: float, lr1: float, logit_step: float, seed: int
    ) -> Callable[[], tuple[float, int]]:
        s, ct, shared = self.s, self.ct, self.s.center_negatives
        if ct.slots is None:
            return lambda: K.train_plain(
                ct.table, self.w_out, c, x, self.accept, self.alias, s.negative, shared,
                lr0, lr1, seed, self.loss_every,
            )  # fmt: skip
        return lambda: K.train_side(
            ct.table, ct.slots, ct.logits, logit_step, ct.normalise_step, self.w_out,
            c, x, self.accept, self.alias, s.negative, shared, lr0, lr1, seed, self.loss_every,
        )  # fmt: skip


class _TorchBackend(_Backend):
    """Batched SGD with gathers and ``index_add_``; the tables are shared with numpy."""

    def _prepare(self, w_out: np.ndarray, sampler: NegativeSampler) -> None:
        import torch  # only here: importing torch costs seconds nobody else should pay

        s, centers = self.s, self.ct
        torch.set_num_threads(s.threads)
        torch.manual_seed(s.seed)
        self.table = torch.from_numpy(centers.table)  # shares memory: updates land in numpy
        self.w_out = torch.from_numpy(w_out)
        self.slots = None if centers.slots is None else torch.from_numpy(centers.slots)
        self.logits = None if centers.logits is None else torch.from_numpy(centers.logits)
        self.accept = torch.from_numpy(sampler.accept)
        self.alias = torch.from_numpy(sampler.alias).long()
        self.gen = torch.Generator().manual_seed(s.seed)

    def _negatives(self, shape: tuple[int, ...]) -> torch.Tensor:
        import torch

        # alias method, as the numba kernels and NegativeSampler.sample
        u = torch.rand(shape, generator=self.gen, dtype=torch.float64) * len(self.accept)
        idx = u.long().clamp_(max=len(self.accept) - 1)
        frac = (u - idx).float()
        return torch.where(frac < self.accept[idx], idx, self.alias[idx])

    def train(
        self, c: np.ndarray, x: np.ndarray, lr0: float, lr1: float, logit_step: float, seed: int
    ) -> tuple[float, int]:
        """Train one slice in batches of ``batch_size``; (summed batch BCE, terms)."""
        import torch

        s = self.s
        self.logit_step = logit_step
        c_all = torch.from_numpy(c).long()
        x_all = torch.from_numpy(x).long()
        n = len(c)
        loss_sum, loss_cnt = 0.0, 0
        for lo in range(0, n, s.batch_size):
            hi = min(n, lo + s.batch_size)
            lr = lr0 + (lr1 - lr0) * lo / n
            with torch.no_grad():
                ls = self._step(c_all[lo:hi], x_all[lo:hi], lr)
            loss_sum += ls * (hi - lo) * (s.negative + 1)
            loss_cnt += (hi - lo) * (s.negative + 1)
        return loss_sum, loss_cnt

    def _center(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Center vectors h (B, d), slot weights (B, S) or None, slot rows (B, S)."""
        import torch

        if self.slots is None:
            return self.table[c], None, c
        rows = self.slots[c]  # (B, S), -1 = absent
        present = rows >= 0
        logit = self.logits[c].masked_fill(~present, -torch.inf)
        w = torch.softmax(logit, dim=1)
        safe = rows.clamp_min(0)
        h = torch.einsum("bs,bsd->bd", w, self.table[safe])
        return h, w, rows

    def _step(self, c: torch.Tensor, x: torch.Tensor, lr: float) -> float:
        import torch

        s = self.s
        b = len(c)
        h, w, rows = self._center(c)
        u_pos = self.w_out[x]
        pos = (h * u_pos).sum(1).clamp_(-K.MAX_SCORE, K.MAX_SCORE)
        sp = torch.sigmoid(pos)
        g_pos = (1.0 - sp) * lr  # (B,)
        grad_h = g_pos[:, None] * u_pos
        self.w_out.index_add_(0, x, g_pos[:, None] * h)
        group = s.negative_group if s.shared_negatives else 1
        if group > 1 and b % group == 0:
            ng = b // group
            neg = self._negatives((ng, s.negative))
            u_neg = self.w_out[neg]  # (G, K, d)
            hg = h.view(ng, group, -1)
            scores = torch.bmm(hg, u_neg.transpose(1, 2)).clamp_(-K.MAX_SCORE, K.MAX_SCORE)
            sn = torch.sigmoid(scores)  # (G, g, K)
            g_neg = -sn * lr
            grad_h += torch.bmm(g_neg, u_neg).view(b, -1)
            self.w_out.index_add_(
                0, neg.reshape(-1), torch.bmm(g_neg.transpose(1, 2), hg).view(-1, h.shape[1])
            )
        else:
            neg = self._negatives((b, s.negative))
            u_neg = self.w_out[neg]  # (B, K, d)
            scores = torch.einsum("bd,bkd->bk", h, u_neg).clamp_(-K.MAX_SCORE, K.MAX_SCORE)
            sn = torch.sigmoid(scores)
            g_neg = -sn * lr
            grad_h += torch.einsum("bk,bkd->bd", g_neg, u_neg)
            self.w_out.index_add_(
                0, neg.reshape(-1), (g_neg[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1])
            )
        if w is None:
            self.table.index_add_(0, c, grad_h)
        else:
            present = rows >= 0
            safe = rows.clamp_min(0)
            # the same step factor for rows and logits, as the numba kernel (train_side)
            scale = 1.0 / (w * w).sum(1, keepdim=True) if self.ct.normalise_step else 1.0
            if self.logit_step > 0:
                he = (h * grad_h).sum(1, keepdim=True)
                re = torch.einsum("bsd,bd->bs", self.table[safe], grad_h)
                grad_a = torch.where(present, w * (re - he), 0.0) * scale * self.logit_step
                self.logits.index_add_(0, c, grad_a)
            step = w * scale
            upd = (step[:, :, None] * grad_h[:, None, :]).masked_fill(~present[:, :, None], 0.0)
            self.table.index_add_(0, safe.reshape(-1), upd.reshape(-1, h.shape[1]))
        # mean BCE of the batch (positive + negative terms), for the live curve
        loss = -(
            torch.log(sp.clamp_min(1e-7)).sum()
            + torch.log((1 - sn).clamp_min(1e-7)).sum() * (b * s.negative / sn.numel())
        )
        return float(loss) / (b * (s.negative + 1))


class SkipGramModel(Model):
    """Plain skip-gram with negative sampling on walks (the method's PyTorch word2vec)."""

    name = "sgns"
    label = "Skip-gram, ours (numba; torch backend too)"
    settings_cls = SkipGramSettings

    def fit(self, data: TrainingData, callback: Callback | None = None) -> Embeddings:
        s: SkipGramSettings = self.settings
        rng = np.random.default_rng(s.seed)
        w_in = init_center_table(data.n_products, s.vector_size, rng, s.init_scale)
        w_out = np.zeros((data.n_products, s.vector_size), dtype=np.float32)
        centers = CenterTables(table=w_in)
        trained = token_counts(data.walks, data.n_products) > 0 if data.walks is not None else None

        live: dict[str, np.ndarray] = {}

        def current() -> Embeddings:  # for the live monitors only: see scored_embeddings
            return scored_embeddings(w_in, w_out, trained, s, data, live=live)

        facts = train_skipgram(data, s, centers, w_out, current, callback, rng)
        return scored_embeddings(w_in, w_out, trained, s, data, info={"training": facts})


class Node2VecModel(SkipGramModel):
    """node2vec: the same skip-gram on second-order walks biased by return p, in-out q.

    The run's walks default to p=0.5 (return often) and q=2 (stay local, BFS-like), the
    setting the reference implementation could not finish at electronics scale.
    """

    name = "node2vec"
    label = "node2vec (p/q walks + skip-gram)"
    walk_p = 0.5
    walk_q = 2.0
