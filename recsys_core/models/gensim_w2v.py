"""gensim Word2Vec on the random walks: "gensim-sg" (skip-gram) and "gensim-cbow".

The method describes its gensim model as skip-gram, but its public code never sets ``sg``,
so gensim trained CBOW (gensim's default, ``sg=0``). Both are offered under their real
names; "gensim-cbow" reproduces what the original code actually ran.

Walk tokens are the product ids as strings; vectors come back in catalog order, products
absent from the walks (no train pair) get zero vectors and ``trained=False``.

Progress: one event per epoch (a step here is an epoch): the loss as a mean per term
(positive or negative) like the other models', where gensim itself reports the sum over
the epoch (``compute_loss=True``; millions on a real corpus); the learning rate the epoch
started at (``alpha`` for the first, as set; gensim decays it linearly inside the
epoch); elapsed seconds and the live validation AUC. Skip-gram's pair count is measured
on a sample of walks under gensim's rules (reduced window, subsampling), CBOW's is the
effective words gensim reports (one example per center). gensim's own counter loses
terms (concurrent jobs overwrite each other's float32 sums; a large float32 sum stops
absorbing small terms), so the model keeps its own float64 total
(:func:`_exact_loss_word2vec`): on the default catalog, 2 epochs, gensim-sg's loss per
term is 0.374 / 0.190 against our skip-gram's 0.380 / 0.191 (gensim's counter gave the
equivalent of 0.164 / 0.088).

Cancellation: gensim cannot stop inside an epoch, so training runs one ``train(epochs=1)``
call per epoch with ``start_alpha``/``end_alpha`` set to continue gensim's linear decay
from ``alpha`` to ``min_alpha`` over all epochs; a callback returning True stops at the
next epoch boundary and the vectors trained so far are returned.

Reproducibility: gensim is only deterministic with ``workers=1`` (and a fixed
``PYTHONHASHSEED``); with more workers, thread scheduling changes the result slightly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from recsys_core.common.settings import Settings, SettingsError, require
from recsys_core.models.base import (
    MAX_DIM,
    MAX_EPOCHS,
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
)

# gensim's sg: 0 = CBOW, 1 = skip-gram.
SG_CHOICES = (0, 1)
# Walks handed to gensim per list conversion; bounds the memory of string tokens.
CHUNK_WALKS = 20_000


@dataclasses.dataclass(frozen=True)
class GensimSettings(Settings):
    """gensim ``Word2Vec`` parameters, under gensim's own names.

    Parameters
    ----------
    vector_size, window, negative, epochs, min_count, sample, alpha, min_alpha, workers:
        As in ``gensim.models.Word2Vec``.
    sg:
        1 = skip-gram, 0 = CBOW (must match the model: "gensim-sg" or "gensim-cbow").
    seed:
        gensim's ``seed`` (see the module note on determinism).
    ns_exponent:
        gensim's exponent of the negative-sampling distribution (0.75 is word2vec's and
        gensim's; 0, the default here, draws negatives uniformly).
    score, popularity_weight:
        The scoring rule of the vectors and an optional popularity term, as for our
        skip-gram (:class:`~recsys_core.models.sgns.SkipGramSettings`); the in-out rules
        use gensim's context table ``syn1neg``. gensim's vectors are not centred. The
        defaults (in-out, exponent 0) were chosen on validation like ours
        (``python -m bench.scoring``): validation NDCG@10 0.1561 on the built-in catalog and
        0.0622 on MovieLens-100k, against 0.0184 and 0.0201 for gensim's own (cosine,
        0.75). CBOW keeps gensim's own, as it reproduces the original code.
    """

    vector_size: int = 128
    window: int = 5
    negative: int = 5
    epochs: int = 5
    min_count: int = 1
    sample: float = 1e-3
    alpha: float = 0.025
    min_alpha: float = 0.0001
    workers: int = 2
    sg: int = 1
    seed: int = 0
    ns_exponent: float = 0.0
    score: str = "in-out"
    popularity_weight: float = 0.0

    # 2: context vectors and train degrees saved for the score rules
    CODE_VERSION: ClassVar[int] = 2

    BOUNDS: ClassVar[dict[str, Bound]] = {
        "vector_size": Bound(1, MAX_DIM),
        "window": Bound(1, MAX_WINDOW),
        "negative": Bound(1, MAX_NEGATIVE),
        "epochs": Bound(1, MAX_EPOCHS),
        "min_count": Bound(1, 10**9),
        "sample": Bound(0, 1),
        "alpha": Bound(0, MAX_LR, lo_open=True),
        "min_alpha": Bound(0, MAX_LR),
        "workers": Bound(1, MAX_THREADS),
        "seed": Bound(0, SEED_MAX),
        "ns_exponent": Bound(-1, 2),
        "popularity_weight": Bound(-10, 10),
    }
    CHOICES: ClassVar[dict[str, tuple]] = {"sg": SG_CHOICES, "score": SCORE_RULES}

    def validate(self) -> None:
        check_settings(self)
        require(
            self.min_alpha <= self.alpha,
            f"min_alpha must be in [0, alpha={self.alpha}], got {self.min_alpha}",
        )


@dataclasses.dataclass(frozen=True)
class GensimCBOWSettings(GensimSettings):
    """:class:`GensimSettings` with CBOW (``sg=0``), what the original code trained, with
    gensim's own negative sampling and the cosine the original scored with."""

    sg: int = 0
    ns_exponent: float = 0.75
    score: str = "cosine"


class _WalkCorpus:
    """Restartable iterable of walks as lists of string tokens (padding < 0 dropped)."""

    def __init__(self, walks: np.ndarray, n_products: int) -> None:
        self.walks = walks
        self.names = np.array([str(i) for i in range(n_products)], dtype=object)
        self.padded = bool((walks < 0).any())

    def __iter__(self) -> Iterator[list[str]]:
        for start in range(0, len(self.walks), CHUNK_WALKS):
            block = self.walks[start : start + CHUNK_WALKS]
            if not self.padded:
                yield from self.names[block].tolist()
                continue
            for row in block:
                yield self.names[row[row >= 0]].tolist()


class GensimWord2VecModel(Model):
    """gensim Word2Vec on walks; subclasses fix skip-gram or CBOW."""

    settings_cls = GensimSettings

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        expected = self.settings_cls().sg  # type: ignore[attr-defined]
        if self.settings.sg != expected:  # type: ignore[attr-defined]
            other = "gensim-sg" if self.settings.sg == 1 else "gensim-cbow"  # type: ignore[attr-defined]
            raise SettingsError(
                f"sg={self.settings.sg} does not match model {self.name!r}; "  # type: ignore[attr-defined]
                f"use model {other!r} instead"
            )

    def fit(self, data: TrainingData, callback: Callback | None = None) -> Embeddings:
        s: GensimSettings = self.settings  # type: ignore[assignment]
        if data.walks is None:
            raise ValueError(f"model {self.name!r} trains on walks; TrainingData.walks is None")
        walks = np.asarray(data.walks)
        corpus = _WalkCorpus(walks, data.n_products)
        model = _exact_loss_word2vec()(
            vector_size=s.vector_size,
            window=s.window,
            negative=s.negative,
            min_count=s.min_count,
            sample=s.sample,
            alpha=s.alpha,
            min_alpha=s.min_alpha,
            workers=s.workers,
            sg=s.sg,
            seed=s.seed,
            hs=0,
            ns_exponent=s.ns_exponent,
        )
        model.build_vocab(corpus)
        n = data.n_products
        pairs_per_walk = _sg_pairs_per_walk(walks, data.n_products, s) if s.sg else None
        loop = TrainLoop(
            s.epochs, data, lambda: _embeddings(model, n, s, data), callback, total_steps=s.epochs
        )
        decay = (s.alpha - s.min_alpha) / s.epochs
        epochs_done = 0
        for epoch in loop.epochs():
            start_alpha = s.alpha - decay * epoch
            # one train() per epoch: gensim cannot stop inside one, and resets its loss
            trained_words, _ = model.train(
                corpus,
                total_examples=model.corpus_count,
                epochs=1,
                start_alpha=start_alpha,
                end_alpha=s.alpha - decay * (epoch + 1),
                compute_loss=True,
            )
            epochs_done += 1
            # gensim sums -log sigmoid over every term of the epoch; ours is a mean per term
            examples = len(walks) * pairs_per_walk if s.sg else trained_words
            terms = max(1, round(examples * (s.negative + 1)))
            loop.add_loss(model.take_loss(), terms)
            loop.end_epoch(epoch, epoch, start_alpha)
        embeddings = _embeddings(model, n, s, data)
        embeddings.info.update(
            {"sg": s.sg, "epochs_done": epochs_done, "vocab": len(model.wv.index_to_key)}
        )
        return embeddings


def _exact_loss_word2vec() -> type:
    """gensim's Word2Vec with a loss counter that neither loses jobs nor saturates.

    gensim keeps its loss in ``model.running_training_loss``: each job copies it into a
    float32, adds its terms and writes it back. With several workers, jobs running at the
    same time overwrite each other's sums (measured: with 2 workers the loss came out at
    about half of one worker's), and a float32 sum of millions stops absorbing terms below
    its spacing. Here each job reads 0 (a per-thread value) and its write adds the job's
    sum to one float64 total under a lock.
    """
    import threading

    from gensim.models import Word2Vec

    class ExactLossWord2Vec(Word2Vec):
        _loss_lock = threading.Lock()

        @property
        def running_training_loss(self) -> float:
            return 0.0  # what a job starts from

        @running_training_loss.setter
        def running_training_loss(self, value: float) -> None:
            # gensim writes 0 at construction and at each train() start: adds nothing
            with self._loss_lock:
                self.__dict__["_loss_total"] = self.__dict__.get("_loss_total", 0.0) + value

        def take_loss(self) -> float:
            """The loss summed since the last call, then reset."""
            with self._loss_lock:
                total = self.__dict__.get("_loss_total", 0.0)
                self.__dict__["_loss_total"] = 0.0
            return float(total)

    return ExactLossWord2Vec


def _sg_pairs_per_walk(walks: np.ndarray, n_products: int, s: GensimSettings) -> float:
    """Skip-gram pairs per walk under gensim's rules (reduced window, subsampling).

    Measured on up to 2,000 walks with :func:`skipgram_pairs`, which applies the same
    rules; it turns gensim's summed loss into a mean per (pair, term).
    """
    from recsys_core.models.skipgram_pairs import (
        skipgram_pairs,
        subsample_keep_prob,
        token_counts,
    )

    keep = subsample_keep_prob(token_counts(walks, n_products), s.sample) if s.sample else None
    probe = walks[: min(len(walks), 2000)]
    centers, _ = skipgram_pairs(probe, s.window, np.random.default_rng(s.seed), keep, True)
    return len(centers) / max(len(probe), 1)


def _embeddings(model, n_products: int, s: GensimSettings, data: TrainingData) -> Embeddings:
    """Input and context vectors in catalog order; products outside the vocabulary stay
    zero."""
    wv = model.wv
    vectors = np.zeros((n_products, wv.vector_size), dtype=np.float32)
    context = np.zeros_like(vectors)
    trained = np.zeros(n_products, dtype=bool)
    ids = np.asarray(wv.index_to_key, dtype=np.int64)
    vectors[ids] = wv.vectors
    context[ids] = model.syn1neg
    trained[ids] = True
    degree = np.diff(data.graph.indptr) if data.graph is not None else np.zeros(n_products)
    return Embeddings(
        vectors=vectors,
        trained=trained,
        context=context,
        score=s.score,
        popularity_weight=s.popularity_weight,
        extras={"log_degree": np.log1p(degree).astype(np.float32)},
    )


class GensimSkipGram(GensimWord2VecModel):
    """gensim Word2Vec, skip-gram (``sg=1``), the model the method describes."""

    name = "gensim-sg"
    label = "gensim word2vec (skip-gram)"
    settings_cls = GensimSettings


class GensimCBOW(GensimWord2VecModel):
    """gensim Word2Vec, CBOW (``sg=0``): what the original code trained, as it never set
    ``sg`` and gensim defaults to CBOW."""

    name = "gensim-cbow"
    label = "gensim word2vec (CBOW; the original code's unstated default)"
    settings_cls = GensimCBOWSettings
