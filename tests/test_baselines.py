"""item-kNN, RP3beta and EASE against small hand-computed examples; block = pairs; save/load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from planted import labelled

from recsys_core.graph import build_graph
from recsys_core.models.base import Embeddings, TrainingData
from recsys_core.models.neighbourhood import (
    EASE,
    EASEEmbeddings,
    EASESettings,
    ItemKNN,
    ItemKNNEmbeddings,
    ItemKNNSettings,
    RP3beta,
    RP3betaEmbeddings,
    RP3betaSettings,
    check_ease_size,
    ease_max_products,
)
from recsys_core.models.registry import BASELINES, model_class

# A path 0 -(2)- 1 -(1)- 2 -(1)- 3 plus 1 -(1)- 3, and product 4 with no train pair.
A = np.array([0, 1, 2, 1])
B = np.array([1, 2, 3, 3])
W = np.array([2.0, 1.0, 1.0, 1.0], dtype=np.float32)
N = 5


def _data() -> TrainingData:
    graph = build_graph(N, A, B, W)
    train = pd.DataFrame({"a": A, "b": B, "weight": W})
    val = pd.DataFrame({"a": [0, 2], "b": [3, 4], "label": [1, 0], "seen": [True, False]})
    products = pd.DataFrame({"asin": list("abcde")})
    return labelled(N, products, (), train, graph, None, np.arange(N) < 4, val=val)


def _dense() -> np.ndarray:
    w = np.zeros((N, N))
    w[A, B] = W
    w[B, A] = W
    return w


def _all_pairs(emb: Embeddings) -> None:
    """score_block equals score_pairs on every (query, candidate) pair."""
    qa, cb = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    pairs = emb.score_pairs(qa.ravel(), cb.ravel()).reshape(N, N)
    block = emb.score_block(np.arange(N), np.arange(N))
    assert block.dtype == np.float32 and block.shape == (N, N)
    np.testing.assert_allclose(block, pairs, rtol=1e-5, atol=1e-7)
    some = emb.score_block(np.array([3, 1]), np.array([2, 0, 4]))
    np.testing.assert_allclose(some, pairs[np.ix_([3, 1], [2, 0, 4])], rtol=1e-5, atol=1e-7)


def _round_trip(emb: Embeddings, cls: type, folder) -> None:
    emb.save(folder)
    back = Embeddings.load(folder)
    assert type(back) is cls and back.kind == cls.kind
    np.testing.assert_allclose(
        back.score_block(np.arange(N), np.arange(N)), emb.score_block(np.arange(N), np.arange(N))
    )


def test_item_knn_hand_computed(tmp_path) -> None:
    emb = ItemKNN(ItemKNNSettings(dim=2, shrink=1.0)).fit(_data())
    # rows: w0 = (0,2,0,0,0), w1 = (2,0,1,1,0), w2 = (0,1,0,1,0), w3 = (0,1,1,0,0)
    # |w0| = 2, |w1| = sqrt(6), |w2| = |w3| = sqrt(2)
    expected = {
        (0, 2): 2 / (2 * np.sqrt(2) + 1),  # w0.w2 = 2
        (2, 3): 1 / (2 + 1),  # w2.w3 = 1 (common neighbour 1)
        (1, 2): 1 / (np.sqrt(12) + 1),  # w1.w2 = 1 (via 3)
        (0, 1): 0.0,
        (0, 4): 0.0,
    }
    a, b = np.array(list(expected)).T
    np.testing.assert_allclose(emb.score_pairs(a, b), list(expected.values()), rtol=1e-6)
    _all_pairs(emb)
    _round_trip(emb, ItemKNNEmbeddings, tmp_path / "knn")
    binary = ItemKNN(ItemKNNSettings(dim=2, shrink=0.0, binary=True)).fit(_data())
    # binary rows: w0 = e1, w2 = e1 + e3: cosine 1 / sqrt(2)
    np.testing.assert_allclose(binary.score_pairs([0], [2]), [1 / np.sqrt(2)], rtol=1e-6)


def test_rp3beta_hand_computed(tmp_path) -> None:
    alpha, beta = 0.5, 0.5
    emb = RP3beta(RP3betaSettings(dim=2, alpha=alpha, beta=beta)).fit(_data())
    w = _dense()
    deg = w.sum(axis=1)  # 2, 4, 2, 2, 0
    p = np.divide(w, deg[:, None], out=np.zeros_like(w), where=deg[:, None] > 0) ** alpha
    damp = np.divide(1.0, deg**beta, out=np.zeros_like(deg), where=deg > 0)
    expected = (p @ p) * damp[None, :]
    # one entry by hand: 0 -> 1 (P = 1) -> 2 (P = 1/4), divided by sqrt(deg 2 = 2)
    assert expected[0, 2] == pytest.approx(1.0 * np.sqrt(0.25) / np.sqrt(2))
    qa, cb = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    np.testing.assert_allclose(
        emb.score_pairs(qa.ravel(), cb.ravel()).reshape(N, N), expected, rtol=1e-5, atol=1e-7
    )
    _all_pairs(emb)
    _round_trip(emb, RP3betaEmbeddings, tmp_path / "rp3")


def test_ease_hand_computed(tmp_path) -> None:
    lam = 2.0
    emb = EASE(EASESettings(dim=2, l2_norm=lam)).fit(_data())
    w = _dense()
    gram = w.T @ w  # each product's neighbour list a basket: X = W, G = X^T X
    p = np.linalg.inv(gram + lam * np.eye(N))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    block = emb.score_block(np.arange(N), np.arange(N))
    np.testing.assert_allclose(block, expected, rtol=1e-5, atol=1e-7)
    # the closed form solves min |X - XB|^2 + lam |B|^2 with diag(B) = 0: check column 0
    # by its normal equations, (G + lam I) b = G e_0 off the diagonal entry
    resid = (gram + lam * np.eye(N)) @ expected[:, 0] - gram[:, 0]
    np.testing.assert_allclose(np.delete(resid, 0), 0.0, atol=1e-6)
    assert not block[4].any() and not block[:, 4].any(), "no train pair, no weights"
    _all_pairs(emb)
    _round_trip(emb, EASEEmbeddings, tmp_path / "ease")


def test_ease_refuses_large_catalogs(monkeypatch) -> None:
    assert ease_max_products(1.0) == 16_384  # sqrt(2^30 / 4 bytes)
    with pytest.raises(ValueError, match=r"limited to 16,384 products in 1\.0 GiB"):
        check_ease_size(20_000, memory_gib=1.0)
    check_ease_size(16_384, memory_gib=1.0)
    monkeypatch.setenv("RECSYS_EASE_MEMORY_GIB", "0.0000001")  # bound: 5 products
    with pytest.raises(ValueError, match="EASE needs a dense 40 x 40") as err:
        EASE(EASESettings(dim=2)).fit(labelled_size(40))
    assert "\n" not in str(err.value) and "RECSYS_EASE_MEMORY_GIB" in str(err.value)


def labelled_size(n: int) -> TrainingData:
    a, b = np.arange(n - 1), np.arange(1, n)
    graph = build_graph(n, a, b, np.ones(n - 1, np.float32))
    train = pd.DataFrame({"a": a, "b": b, "weight": np.ones(n - 1, np.float32)})
    val = pd.DataFrame({"a": [0], "b": [2], "label": [1], "seen": [True]})
    products = pd.DataFrame({"asin": [str(i) for i in range(n)]})
    return labelled(n, products, (), train, graph, None, np.ones(n, bool), val=val)


def test_registered_as_baselines() -> None:
    assert BASELINES == ("popularity", "adamic-adar", "item-knn", "rp3beta", "ease")
    assert model_class("item-knn") is ItemKNN
    assert model_class("rp3beta") is RP3beta
    assert model_class("ease") is EASE
    from ui import compare

    assert compare.BASELINES is BASELINES


def test_ease_in_place_inverse_matches_numpy() -> None:
    from recsys_core.models.neighbourhood import _mirror_lower, ease_weights

    rng = np.random.default_rng(0)
    n = 60
    a, b = rng.integers(0, n, 400), rng.integers(0, n, 400)
    keep = a != b
    graph = build_graph(n, a[keep], b[keep], rng.random(keep.sum()).astype(np.float32) + 0.5)
    w = graph.toarray().astype(np.float64)
    p = np.linalg.inv(w @ w + 3.0 * np.eye(n))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(ease_weights(graph, 3.0), expected, rtol=1e-4, atol=1e-6)
    m = np.tril(rng.random((7, 7)))
    _mirror_lower(m, block=3)  # bands of 3 rows, with a ragged last band
    np.testing.assert_array_equal(m, m.T)


def test_compare_leaves_out_a_baseline_that_refuses_the_catalog(monkeypatch, capsys) -> None:
    from recsys_core.cli import main

    monkeypatch.setenv("RECSYS_EASE_MEMORY_GIB", "0.0000001")
    assert EASE.refusal(40) is not None and EASE.refusal(3) is None
    code = main(["compare", "--models", "popularity", "--products", "300", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "leaving out ease: EASE needs a dense" in out
    models = json.loads(out.strip().splitlines()[-1])["models"]
    assert set(models) == {"popularity", "adamic-adar", "item-knn", "rp3beta"}
