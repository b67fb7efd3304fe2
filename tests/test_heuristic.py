"""Adamic-Adar baseline: known scores, planted clusters, save/load keeps its scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from planted import labelled, planted

from recsys_core.evaluation.evaluate import evaluate, scoring_view
from recsys_core.graph import build_graph
from recsys_core.models.base import Embeddings, TrainingData
from recsys_core.models.heuristic import (
    AdamicAdar,
    AdamicAdarEmbeddings,
    HeuristicSettings,
    Popularity,
    PopularityEmbeddings,
)
from recsys_core.models.registry import BASELINES, model_class


def _toy_data() -> TrainingData:
    # 0-1, 0-2, 1-2, 2-3, 3-4, 1-3: degrees 0:2 1:3 2:3 3:3 4:1
    a = np.array([0, 0, 1, 2, 3, 1])
    b = np.array([1, 2, 2, 3, 4, 3])
    graph = build_graph(6, a, b, np.ones(6, np.float32))
    train = pd.DataFrame({"a": a, "b": b, "weight": np.ones(6, np.float32)})
    val = pd.DataFrame({"a": [0, 4], "b": [3, 5], "label": [1, 0], "seen": [True, False]})
    seen = np.array([1, 1, 1, 1, 1, 0], bool)
    products = pd.DataFrame({"asin": list("abcdef")})
    return labelled(6, products, (), train, graph, None, seen, val=val)


def test_adamic_adar_known_scores() -> None:
    data = _toy_data()
    events = []
    emb = AdamicAdar(HeuristicSettings(dim=2)).fit(data, events.append)
    # common neighbours of 0 and 3: 1 (deg 3) and 2 (deg 3)
    scores = emb.score_pairs(np.array([0, 0, 4, 0]), np.array([3, 4, 5, 1]))
    np.testing.assert_allclose(scores, [2 / np.log(3), 0.0, 0.0, 1 / np.log(3)], rtol=1e-6)
    np.testing.assert_array_equal(emb.trained, [1, 1, 1, 1, 1, 0])
    assert not emb.vectors[5].any() and emb.vectors.shape == (6, 2)
    block = emb.score_block(np.array([0, 4]), np.arange(6))
    np.testing.assert_allclose(
        block[:, [3, 4]], [[2 / np.log(3), 0], [0, 1 / np.log(3)]], rtol=1e-6
    )
    np.testing.assert_allclose(block[1, 1:4], [1 / np.log(3)] * 2 + [0], rtol=1e-6)  # via 3
    assert len(events) == 1 and events[0].auc is not None and events[0].epoch_end


def test_save_load_keeps_scoring(tmp_path) -> None:
    emb = AdamicAdar(HeuristicSettings(dim=2)).fit(_toy_data())
    emb.save(tmp_path / "aa")
    generic = Embeddings.load(tmp_path / "aa")
    assert generic.score == "adamic-adar"
    assert isinstance(generic, AdamicAdarEmbeddings), "load rebuilds the scoring subclass"
    back = scoring_view(generic)
    assert isinstance(back, AdamicAdarEmbeddings)
    a, b = np.array([0, 1, 2]), np.array([3, 4, 0])
    np.testing.assert_allclose(back.score_pairs(a, b), emb.score_pairs(a, b))
    direct = AdamicAdarEmbeddings.load(tmp_path / "aa")
    np.testing.assert_allclose(direct.score_pairs(a, b), emb.score_pairs(a, b))


def test_learns_planted_clusters() -> None:
    data, split = planted()
    emb = AdamicAdar(HeuristicSettings(dim=8)).fit(data)
    report = evaluate(emb, split.val, split.seen_products, train_graph=data.graph)
    assert report.auc_all > 0.65, report.auc_all
    assert report.hit_rate > 0.1
    # the display vectors also carry the clusters: nearest neighbour mostly same cluster
    v = emb.vectors / np.maximum(np.linalg.norm(emb.vectors, axis=1, keepdims=True), 1e-9)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(axis=1)
    assert (nearest % 8 == np.arange(len(v)) % 8).mean() > 0.6
    assert sp.issparse(data.graph)


def test_popularity_known_scores_and_roundtrip(tmp_path) -> None:
    data = _toy_data()
    events = []
    emb = Popularity(HeuristicSettings(dim=2)).fit(data, events.append)
    deg = np.array([2, 3, 3, 3, 1, 0])
    a, b = np.array([0, 1, 4, 5]), np.array([3, 4, 5, 2])
    np.testing.assert_allclose(emb.score_pairs(a, b), np.log1p(deg[a]) + np.log1p(deg[b]))
    np.testing.assert_array_equal(emb.trained, deg > 0)
    block = emb.score_block(np.array([0, 4]), np.arange(6))
    np.testing.assert_allclose(block, np.log1p(deg[[0, 4]])[:, None] + np.log1p(deg)[None, :])
    assert len(events) == 1 and events[0].auc is not None
    emb.save(tmp_path / "pop")
    back = Embeddings.load(tmp_path / "pop")
    assert isinstance(back, PopularityEmbeddings) and back.kind == "popularity"
    np.testing.assert_allclose(back.score_pairs(a, b), emb.score_pairs(a, b))


def test_baselines_are_registered() -> None:
    assert BASELINES[:2] == ("popularity", "adamic-adar")
    assert model_class("popularity") is Popularity
    assert model_class("adamic-adar") is AdamicAdar
    assert not Popularity.uses_walks
