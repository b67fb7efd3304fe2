"""gensim Word2Vec on the random walks: "gensim-sg" (skip-gram) and "gensim-cbow".

The method describes its gensim model as skip-gram, but its public code never sets ``sg``,
so gensim trained CBOW (gensim's default, ``sg=0``). Both are offered under their real
names; "gensim-cbow" reproduces what the original code actually ran.

Walk tokens are the product ids as strings; vectors come back in catalog order, products
absent from the walks (no train pair) get zero vectors and ``trained=False``.

Progress: gensim reports once per epoch (a step here is an epoch) through a
``CallbackAny2Vec``: loss (gensim's running loss, ``compute_loss=True``; the per-epoch
value is the difference over the epoch, as gensim's counter accumulates), learning rate
at the epoch end, elapsed seconds and the live validation AUC.

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

import numpy as np

from recsys_core.common.settings import Settings, SettingsError, require
from recsys_core.models.base import (
    Callback,
    Clock,
    Embeddings,
    Model,
    TrainEvent,
    TrainingData,
)

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

    def validate(self) -> None:
        require(self.vector_size >= 1, f"vector_size must be >= 1, got {self.vector_size}")
        require(self.window >= 1, f"window must be >= 1, got {self.window}")
        require(self.negative >= 1, f"negative must be >= 1, got {self.negative}")
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(self.min_count >= 1, f"min_count must be >= 1, got {self.min_count}")
        require(self.sample >= 0, f"sample must be >= 0, got {self.sample}")
        require(self.alpha > 0, f"alpha must be > 0, got {self.alpha}")
        require(
            0 <= self.min_alpha <= self.alpha,
            f"min_alpha must be in [0, alpha={self.alpha}], got {self.min_alpha}",
        )
        require(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        require(self.sg in (0, 1), f"sg must be 0 (CBOW) or 1 (skip-gram), got {self.sg}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")


@dataclasses.dataclass(frozen=True)
class GensimCBOWSettings(GensimSettings):
    """:class:`GensimSettings` with CBOW (``sg=0``), what the original code trained."""

    sg: int = 0


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
        from gensim.models import Word2Vec
        from gensim.models.callbacks import CallbackAny2Vec

        s: GensimSettings = self.settings  # type: ignore[assignment]
        if data.walks is None:
            raise ValueError(f"model {self.name!r} trains on walks; TrainingData.walks is None")
        clock = Clock()
        corpus = _WalkCorpus(np.asarray(data.walks), data.n_products)
        model = Word2Vec(
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
        )
        model.build_vocab(corpus)
        n = data.n_products
        state = {"cancel": False, "loss_before": 0.0}

        class Listener(CallbackAny2Vec):  # gensim calls it at each epoch end
            def __init__(self, epoch: int, end_alpha: float) -> None:
                self.epoch = epoch
                self.end_alpha = end_alpha

            def on_epoch_end(self, w2v: Word2Vec) -> None:
                running = float(w2v.get_latest_training_loss())
                # gensim resets its counter in each train() call; be robust either way
                before = state["loss_before"]
                loss = running - before if running >= before else running
                state["loss_before"] = running
                if callback is None:
                    return
                auc, auc_seen = data.live_auc(_embeddings(w2v, n))
                stop = callback(
                    TrainEvent(
                        step=self.epoch,
                        epoch=self.epoch,
                        loss=loss,
                        lr=self.end_alpha,
                        elapsed=clock(),
                        auc=auc,
                        auc_seen=auc_seen,
                        epoch_end=True,
                        total_steps=s.epochs,
                    )
                )
                state["cancel"] = bool(stop)

        decay = (s.alpha - s.min_alpha) / s.epochs
        for epoch in range(s.epochs):
            start_alpha = s.alpha - decay * epoch
            end_alpha = s.alpha - decay * (epoch + 1)
            state["loss_before"] = 0.0
            model.train(
                corpus,
                total_examples=model.corpus_count,
                epochs=1,
                start_alpha=start_alpha,
                end_alpha=end_alpha,
                compute_loss=True,
                callbacks=[Listener(epoch, end_alpha)],
            )
            if state["cancel"]:
                break
        embeddings = _embeddings(model, n)
        embeddings.info.update(
            {"sg": s.sg, "epochs_done": epoch + 1, "vocab": len(model.wv.index_to_key)}
        )
        return embeddings


def _embeddings(model, n_products: int) -> Embeddings:
    """Vectors in catalog order; products outside the vocabulary stay zero."""
    wv = model.wv
    vectors = np.zeros((n_products, wv.vector_size), dtype=np.float32)
    trained = np.zeros(n_products, dtype=bool)
    ids = np.asarray(wv.index_to_key, dtype=np.int64)
    vectors[ids] = wv.vectors
    trained[ids] = True
    return Embeddings(vectors=vectors, trained=trained, score="cosine")


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
