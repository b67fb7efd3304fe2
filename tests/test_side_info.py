"""Side-information skip-gram: encoding, EGES weights, cold start."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from planted import labelled

from recsys_core.evaluation.auc import rank_auc
from recsys_core.models.base import TrainingData
from recsys_core.models.side_info import (
    EgesModel,
    EgesSkipMissingModel,
    SideInfoSettings,
    SideMeanModel,
    effective_rare_min_count,
    encode_side_info,
    price_bin,
)


def planted_cold(n: int = 800, k: int = 10, noise: bool = False, seed: int = 0) -> TrainingData:
    """Clusters linked inside themselves; 15% of products lose every train pair (cold).

    ``cat_1`` is the cluster (informative) or a shuffled cluster label (``noise``).
    """
    rng = np.random.default_rng(seed)
    cluster = np.arange(n) % k
    src = np.repeat(np.arange(n), 8)
    dst = rng.integers(0, n, len(src))
    same = np.minimum((dst - dst % k) + cluster[src], n - 1)
    dst = np.where(rng.random(len(src)) < 0.9, same, dst)
    keep = src != dst
    pairs = pd.DataFrame({"a": np.minimum(src, dst)[keep], "b": np.maximum(src, dst)[keep]})
    pairs = pairs.drop_duplicates().reset_index(drop=True)
    cold = rng.random(n) < 0.15
    is_val = (rng.random(len(pairs)) < 0.2) | cold[pairs.a] | cold[pairs.b]
    train, pos = pairs[~is_val], pairs[is_val]
    g = sp.coo_matrix((np.ones(len(train)), (train.a, train.b)), shape=(n, n)).tocsr()
    g = (g + g.T).tocsr()
    indptr, indices, degree = g.indptr, g.indices, np.diff(g.indptr)
    starts = np.repeat(np.flatnonzero(degree > 0), 10)
    walks = np.empty((len(starts), 10), dtype=np.int32)
    walks[:, 0] = cur = starts
    for t in range(1, 10):
        cur = indices[indptr[cur] + (rng.random(len(cur)) * degree[cur]).astype(np.int64)]
        walks[:, t] = cur
    seen = degree > 0
    na, nb = rng.integers(0, n, len(pos)), rng.integers(0, n, len(pos))
    val = pd.DataFrame(
        {
            "a": np.r_[pos.a, na].astype(np.int32),
            "b": np.r_[pos.b, nb].astype(np.int32),
            "label": np.r_[np.ones(len(pos)), np.zeros(len(pos))].astype(np.int8),
        }
    )
    val["seen"] = seen[val.a] & seen[val.b]
    label = rng.permutation(cluster) if noise else cluster
    products = pd.DataFrame(
        {
            "asin": [f"P{i}" for i in range(n)],
            "cat_1": [f"c{c}" for c in label],
            "brand": [None if i % 3 == 0 else f"b{i % 7}" for i in range(n)],
        }
    )
    return labelled(
        n, products, ("cat_1", "brand"), train.assign(weight=1.0), g, walks, seen, val=val
    )


def settings(**kw) -> SideInfoSettings:
    base = dict(vector_size=32, epochs=3, eval_every=0, rare_scale=False, rare_min_count=0)
    base.update(kw)
    return SideInfoSettings(**base)


def unseen_auc(emb, val: pd.DataFrame) -> float:
    m = ~val["seen"].to_numpy()
    scores = emb.score_pairs(val["a"].to_numpy()[m], val["b"].to_numpy()[m])
    return rank_auc(scores, val["label"].to_numpy()[m])


def test_price_bins() -> None:
    got = price_bin(np.array([3.17, 24.4, 24.6, 27.0, 49.9, 50.0, 123.4, 499.0, 980.0, np.nan]))
    assert got.tolist() == [3, 24, 25, 25, 50, 50, 120, 490, 500, -1]


def test_encode_side_info_rare_values_and_missing() -> None:
    products = pd.DataFrame(
        {
            "cat_1": ["a"] * 5 + ["b"] * 3 + ["c", "d", None, ""],
            "price": [1.0, 30.0, 31.0, np.nan] + [600.0] * 8,
            "genres": ["Action|Comedy"] * 4 + ["Drama"] * 8,
            "year": [1995] * 6 + [None] * 6,
        }
    )
    codes, n_values, names = encode_side_info(products, ("cat_1", "price", "genres", "nope"), 3)
    assert names == ["cat_1", "price", "genres"] and codes.dtype == np.int32
    cat = codes[:, 0]
    # "a" (5 products) kept; "b" (3 <= 3), "c", "d" merged into one MISC value; None, "" missing
    assert n_values[0] == 2
    assert len(set(cat[:5])) == 1 and len(set(cat[5:10])) == 1 and cat[0] != cat[5]
    assert cat[10] == -1 and cat[11] == -1
    price = codes[:, 1]
    assert price[3] == -1 and price[1] == price[2]  # 30 and 31 share the 30-35 bin
    assert n_values[1] == 3  # 1, 30, 500
    assert n_values[2] == 2 and codes[0, 2] != codes[5, 2]  # genre combinations whole
    year, *_ = encode_side_info(products, ("year",), 0)
    assert (year[6:, 0] == -1).all() and (year[:6, 0] == 0).all()
    assert effective_rare_min_count(100, True, 420_000) == 100
    assert effective_rare_min_count(100, True, 20_000) == 5
    assert effective_rare_min_count(100, False, 20_000) == 100


@pytest.fixture(scope="module")
def informative() -> TrainingData:
    return planted_cold()


def test_eges_cold_start_beats_chance_and_weights_readable(informative: TrainingData) -> None:
    data = informative
    emb = EgesModel(settings()).fit(data)
    assert emb.cold_start.any() and not (emb.cold_start & emb.trained).any()
    assert unseen_auc(emb, data.val) > 0.75
    w = emb.extras["side_weights"]
    assert w.shape == (data.n_products, 3)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    fw = emb.info["field_weights"]
    assert set(fw) == {"id", "cat_1", "brand"}
    assert sum(fw.values()) == pytest.approx(1.0, abs=1e-5)
    # the informative category should earn more weight than the noisy brand
    assert fw["cat_1"] > fw["brand"]


def test_side_mean_and_skip_missing(informative: TrainingData) -> None:
    data = informative
    mean = SideMeanModel(settings()).fit(data)
    assert mean.info["field_weights"]["id"] == pytest.approx(1 / 3, abs=1e-5)
    assert unseen_auc(mean, data.val) > 0.75
    skip = EgesSkipMissingModel(settings()).fit(data)
    w = skip.extras["side_weights"]
    missing_brand = data.products["brand"].isna().to_numpy() & skip.trained
    assert (w[missing_brand, 2] == 0).all()  # masked, not embedded
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)


def test_cold_start_is_chance_when_side_info_is_noise() -> None:
    data = planted_cold(noise=True)
    emb = EgesModel(settings()).fit(data)
    assert abs(unseen_auc(emb, data.val) - 0.5) < 0.08


def test_seen_pairs_learned(informative: TrainingData) -> None:
    emb = EgesModel(settings()).fit(informative)
    v = informative.val[informative.val["seen"]]
    scores = emb.score_pairs(v["a"].to_numpy(), v["b"].to_numpy())
    assert rank_auc(scores, v["label"].to_numpy()) > 0.85


def _one_update_case(seed: int = 3) -> dict:
    """One (center, context, negative) update of EGES on a 3-product, 2-field table."""
    rng = np.random.default_rng(seed)
    return {
        "table": rng.normal(0, 0.4, (5, 4)).astype(np.float32),  # 3 products + 2 values
        "slots": np.array([[0, 3, 4], [1, 3, -1], [2, 4, 3]], dtype=np.int64),
        "logits": rng.normal(0, 0.5, (3, 3)).astype(np.float32),
        "w_out": rng.normal(0, 0.4, (3, 4)).astype(np.float32),
    }


def _pair_loss(table: np.ndarray, logits: np.ndarray, w_out: np.ndarray, slots: np.ndarray):
    """BCE of center 0 with context 1 (label 1) and negative 2 (label 0), in float64."""
    present = slots[0] >= 0
    a = np.where(present, logits[0], -np.inf)
    w = np.exp(a - a.max())
    w /= w.sum()
    h = (w[present, None] * table[slots[0][present]]).sum(axis=0)
    pos, neg = h @ w_out[1], h @ w_out[2]
    return np.log1p(np.exp(-pos)) + np.log1p(np.exp(neg))


def _kernel_step(case: dict, lr: float, normalise: bool, weight_lr: float) -> dict:
    from recsys_core.models.sgns_kernels import train_side

    out = {k: v.copy() for k, v in case.items()}
    # accept 0 and alias 2: every negative draw is product 2
    accept, alias = np.zeros(3, np.float32), np.full(3, 2, np.int32)
    train_side(
        out["table"], out["slots"], out["logits"], weight_lr, normalise, out["w_out"],
        np.array([0], np.int32), np.array([1], np.int32), accept, alias, 1, False, lr, lr, 7, 0,
    )  # fmt: skip
    return out


def _numeric_grad(case: dict, name: str, eps: float = 1e-4) -> np.ndarray:
    base = {k: v.astype(np.float64) for k, v in case.items() if k != "slots"}
    grad = np.zeros_like(base[name])
    for idx in np.ndindex(grad.shape):
        plus = {k: v.copy() for k, v in base.items()}
        minus = {k: v.copy() for k, v in base.items()}
        plus[name][idx] += eps
        minus[name][idx] -= eps
        grad[idx] = (
            _pair_loss(**plus, slots=case["slots"]) - _pair_loss(**minus, slots=case["slots"])
        ) / (2 * eps)
    return grad


def test_eges_kernel_steps_are_the_finite_difference_gradient() -> None:
    case = _one_update_case()
    lr = 1e-2
    raw = _kernel_step(case, lr, normalise=False, weight_lr=1.0)
    for name in ("table", "logits", "w_out"):
        step = (raw[name].astype(np.float64) - case[name]) / -lr
        np.testing.assert_allclose(step, _numeric_grad(case, name), rtol=2e-3, atol=2e-5)
    # normalised: rows and logits both scaled by 1 / sum w^2 (logits also by weight_lr)
    a = case["logits"][0].astype(np.float64)
    w = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
    scale = 1.0 / (w * w).sum()
    norm = _kernel_step(case, lr, normalise=True, weight_lr=2.0)
    rows = (norm["table"].astype(np.float64) - case["table"]) / -lr
    np.testing.assert_allclose(rows, scale * _numeric_grad(case, "table"), rtol=2e-3, atol=2e-5)
    logit = (norm["logits"].astype(np.float64) - case["logits"]) / -lr
    expected = 2.0 * scale * _numeric_grad(case, "logits")
    np.testing.assert_allclose(logit, expected, rtol=2e-3, atol=2e-5)
    # fixed weights (weight_lr 0): logits stay, rows still learn
    fixed = _kernel_step(case, lr, normalise=True, weight_lr=0.0)
    np.testing.assert_array_equal(fixed["logits"], case["logits"])
    assert not np.array_equal(fixed["table"], case["table"])


def test_eges_weights_learn_where_side_info_is_signal_or_noise() -> None:
    """Informative category: it outweighs brand; noise: the id leads every field."""
    good = EgesModel(settings(epochs=4)).fit(planted_cold()).info["field_weights"]
    noise = EgesModel(settings(epochs=4)).fit(planted_cold(noise=True)).info["field_weights"]
    assert good["cat_1"] > good["brand"]
    assert noise["id"] > max(noise["cat_1"], noise["brand"])


def test_eges_id_logit_sets_the_starting_weights(informative: TrainingData) -> None:
    """The id starts at logit ``id_logit``, the fields at 0 (the mean model ignores it)."""
    frozen = settings(epochs=1, id_logit=2.0, weight_warmup=0.99)  # logits barely learn
    fw = EgesModel(frozen).fit(informative).info["field_weights"]
    start = np.exp(2.0) / (np.exp(2.0) + 2)
    assert fw["id"] == pytest.approx(start, abs=0.02)
    mean = SideMeanModel(settings(epochs=1, id_logit=2.0)).fit(informative)
    assert mean.info["field_weights"]["id"] == pytest.approx(1 / 3, abs=1e-5)
