"""gensim Word2Vec models: learn planted clusters, report per epoch, stop on request."""

from __future__ import annotations

import numpy as np
import pytest
from planted import planted

from recsys_core.common.settings import SettingsError
from recsys_core.evaluation.evaluate import evaluate
from recsys_core.models.base import Embeddings
from recsys_core.models.gensim_w2v import (
    GensimCBOW,
    GensimCBOWSettings,
    GensimSettings,
    GensimSkipGram,
)
from recsys_core.models.registry import model_class


@pytest.fixture(scope="module")
def planted_data():
    return planted()


@pytest.mark.parametrize(
    ("cls", "settings"),
    [
        # two epochs on this tiny graph leave the context vectors small (in-out AUC 0.60):
        # the test checks that gensim learns, so it reads the cosine
        (GensimSkipGram, GensimSettings(vector_size=16, epochs=2, workers=1, score="cosine")),
        (GensimCBOW, GensimCBOWSettings(vector_size=16, epochs=5, alpha=0.05, workers=1)),
    ],
)
def test_learns_planted_clusters_with_events(cls, settings, planted_data) -> None:
    data, split = planted_data
    events = []
    emb = cls(settings).fit(data, callback=events.append)
    assert emb.vectors.shape == (data.n_products, 16)
    report = evaluate(emb, split.val, split.seen_products, train_graph=data.graph)
    assert report.auc_all > 0.8, report.auc_all
    assert [e.epoch for e in events] == list(range(settings.epochs))
    assert all(e.epoch_end and e.auc is not None and e.loss > 0 for e in events)
    assert events[-1].total_steps == settings.epochs
    lrs = [e.lr for e in events]
    # the rate each epoch started at: alpha as set for the first, decaying linearly
    assert lrs == sorted(lrs, reverse=True) and lrs[0] == pytest.approx(settings.alpha)
    step = (settings.alpha - settings.min_alpha) / settings.epochs
    assert lrs[-1] == pytest.approx(settings.alpha - step * (settings.epochs - 1))
    assert emb.info["sg"] == settings.sg


def test_vectors_in_catalog_order_and_untrained_zero() -> None:
    data, _ = planted(n=80, clusters=4)
    # drop every walk through product 5: it must come back untrained, with a zero vector
    walks = data.walks[~(data.walks == 5).any(axis=1)]
    data.walks = walks
    emb = GensimSkipGram(GensimSettings(vector_size=8, epochs=1, workers=1)).fit(data)
    assert not emb.trained[5] and not emb.vectors[5].any()
    assert emb.trained[np.unique(walks)].all()
    assert (np.abs(emb.vectors[emb.trained]).sum(axis=1) > 0).all()


def test_cancel_stops_at_epoch_boundary(planted_data) -> None:
    data, _ = planted_data
    events = []

    def stop_after_first(event) -> bool:
        events.append(event)
        return True

    emb = GensimCBOW(GensimCBOWSettings(vector_size=8, epochs=4, workers=1)).fit(
        data, stop_after_first
    )
    assert len(events) == 1 and emb.info["epochs_done"] == 1
    assert isinstance(emb, Embeddings) and emb.trained.any()


def test_names_and_sg_mismatch() -> None:
    assert model_class("gensim-sg") is GensimSkipGram
    assert model_class("gensim-cbow") is GensimCBOW
    assert GensimCBOW().settings.sg == 0 and GensimSkipGram().settings.sg == 1
    with pytest.raises(SettingsError, match="gensim-sg"):
        GensimCBOW(GensimSettings(sg=1))


@pytest.mark.parametrize("workers", [1, 2])
def test_loss_is_a_mean_per_term_comparable_with_ours(workers, planted_data) -> None:
    """gensim sums its loss over the epoch; the events carry a mean per term, as sgns's."""
    from recsys_core.models.sgns import SkipGramModel, SkipGramSettings

    data, _ = planted_data
    ours, theirs = [], []
    common = {"vector_size": 16, "epochs": 2}
    GensimSkipGram(GensimSettings(workers=workers, **common)).fit(data, theirs.append)
    SkipGramModel(SkipGramSettings(threads=1, eval_every=0, **common)).fit(data, ours.append)
    ours = [e for e in ours if e.epoch_end]
    for g, o in zip(theirs, ours, strict=True):
        assert 0.05 < g.loss < 0.7  # below ln 2, the loss of untrained vectors
        assert 0.6 < g.loss / o.loss < 1.6, (g.loss, o.loss)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [("vector_size", 5_000_000, "[1, 4096]"), ("window", 1_000_000, "[1, 100]"),
     ("negative", 500, "[1, 100]"), ("alpha", 0.0, "(0, 10]")],
)  # fmt: skip
def test_absurd_settings_are_refused(field, value, allowed) -> None:
    with pytest.raises(SettingsError) as err:
        GensimSettings(**{field: value})
    assert field in str(err.value) and str(value) in str(err.value) and allowed in str(err.value)


def test_loss_counter_adds_every_job_in_float64() -> None:
    """Each gensim job starts from 0 and its write adds to one total (no lost jobs)."""
    from recsys_core.models.gensim_w2v import _exact_loss_word2vec

    model = _exact_loss_word2vec()(vector_size=4, min_count=1)
    assert model.running_training_loss == 0.0
    model.running_training_loss = 1.5  # two jobs that ran at the same time
    model.running_training_loss = 2.25
    model.running_training_loss = 1e-7  # a float32 sum of millions would drop this
    assert model.take_loss() == pytest.approx(3.75 + 1e-7, abs=1e-12)
    assert model.take_loss() == 0.0


def test_context_vectors_are_gensims_syn1neg_in_catalog_order(planted_data) -> None:
    data, _ = planted_data
    emb = GensimSkipGram(GensimSettings(vector_size=8, epochs=1, workers=1)).fit(data)
    assert emb.score == "in-out" and emb.context is not None
    assert emb.context.shape == emb.vectors.shape
    assert not emb.context[~emb.trained].any()  # outside the vocabulary: zero
    pair = np.flatnonzero(emb.trained)[:2]
    expected = float(emb.vectors[pair[0]] @ emb.context[pair[1]])
    assert emb.score_pairs(pair[:1], pair[1:])[0] == pytest.approx(expected, rel=1e-5)
