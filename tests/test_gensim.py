"""gensim Word2Vec models: learn planted clusters, report per epoch, stop on request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_core.data.dataset import pairs_from_edges
from recsys_core.evaluate import evaluate
from recsys_core.graph import build_graph
from recsys_core.models.base import Embeddings, TrainingData
from recsys_core.models.gensim_w2v import (
    GensimCBOW,
    GensimCBOWSettings,
    GensimSettings,
    GensimSkipGram,
)
from recsys_core.models.registry import model_class
from recsys_core.settings import SettingsError
from recsys_core.split import SplitSettings, split_pairs


def planted(n=240, clusters=8, degree=8, walks_per_node=5, seed=0):
    """Planted-cluster graph (95% of edges inside a cluster), its split and walks."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n), degree // 2)
    offset = rng.integers(1, n // clusters, len(src)) * clusters  # same cluster, other node
    dst = np.where(rng.random(len(src)) < 0.95, (src + offset) % n, rng.integers(0, n, len(src)))
    pairs = pairs_from_edges(src, dst, np.ones(len(src)), n)
    split = split_pairs(pairs, n, SplitSettings(seed=seed))
    graph = build_graph(n, *split.train_arrays())
    try:
        from recsys_core.walks import WalkSettings, generate_walks

        walks = generate_walks(graph, WalkSettings(walks_per_node=walks_per_node, seed=seed))
    except ImportError:  # walks package not there: plain numpy uniform walks
        deg = np.diff(graph.indptr)
        cur = np.repeat(np.flatnonzero(deg > 0), walks_per_node)
        walks = np.empty((len(cur), 10), dtype=np.int32)
        walks[:, 0] = cur
        for t in range(1, 10):
            cur = graph.indices[graph.indptr[cur] + (rng.random(len(cur)) * deg[cur]).astype(int)]
            walks[:, t] = cur
    products = pd.DataFrame({"asin": [f"A{i:04d}" for i in range(n)]})
    data = TrainingData(n, products, (), split.train, graph, walks, split.val, split.seen_products)
    return data, split


@pytest.fixture(scope="module")
def planted_data():
    return planted()


@pytest.mark.parametrize(
    ("cls", "settings"),
    [
        (GensimSkipGram, GensimSettings(vector_size=16, epochs=2, workers=1)),
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
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] == pytest.approx(settings.min_alpha)
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
