"""Split invariants: the method's 33/67 split with balanced, truly negative negatives."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_core.common.settings import SettingsError
from recsys_core.data import pairs_from_edges
from recsys_core.split import SplitSettings, split_pairs


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(1)
    n = 600
    # heavy-tailed degrees so some validation products end up unseen
    src = rng.integers(0, n, 3000)
    dst = np.minimum(rng.zipf(1.6, 3000), n) - 1
    return pairs_from_edges(src, dst, rng.random(3000) + 0.5, n), n


def codes(frame, n):
    return set((frame["a"].astype(np.int64) * n + frame["b"]).tolist())


def test_split_invariants(pairs):
    frame, n = pairs
    split = split_pairs(frame, n, SplitSettings(seed=3))
    val, train = split.val, split.train
    pos, neg = val[val["label"] == 1], val[val["label"] == 0]
    assert len(pos) == round(len(frame) * 0.33)
    assert len(pos) == len(neg), "labels must be balanced"
    assert len(train) + len(pos) == len(frame)
    real = codes(frame, n)
    assert not codes(pos, n) & codes(train, n), "a validation positive is in the train graph"
    assert not codes(neg, n) & real, "a negative is a real pair"
    assert len(codes(neg, n)) == len(neg), "negatives repeat"
    assert (neg["a"] < neg["b"]).all()
    val_products = set(pos["a"]) | set(pos["b"])
    assert set(neg["a"]) | set(neg["b"]) <= val_products, "negatives use non-validation products"
    seen = np.zeros(n, bool)
    seen[train["a"]] = seen[train["b"]] = True
    np.testing.assert_array_equal(split.seen_products, seen)
    np.testing.assert_array_equal(val["seen"], seen[val["a"]] & seen[val["b"]])
    assert 0 < (~val["seen"]).sum() < len(val), "fixture should produce some unseen pairs"


def test_split_is_deterministic_by_seed(pairs):
    frame, n = pairs
    one = split_pairs(frame, n, SplitSettings(seed=5))
    two = split_pairs(frame, n, SplitSettings(seed=5))
    other = split_pairs(frame, n, SplitSettings(seed=6))
    assert one.val.equals(two.val) and one.train.equals(two.train)
    assert not one.val.equals(other.val)


def test_seen_only_keeps_seen_pairs(pairs):
    frame, n = pairs
    split = split_pairs(frame, n, SplitSettings(seen_only=True))
    assert split.val["seen"].all() and len(split.val) > 0


def test_bad_settings_name_the_field():
    with pytest.raises(SettingsError, match="val_fraction"):
        SplitSettings(val_fraction=1.5)


def test_complete_graph_fails_clearly():
    n = 6
    a, b = np.triu_indices(n, 1)
    frame = pairs_from_edges(a, b, np.ones(len(a)), n)
    with pytest.raises(SettingsError, match="negative pairs"):
        split_pairs(frame, n, SplitSettings(val_fraction=0.5))


def test_settings_key_is_stable_and_sensitive():
    assert SplitSettings().key("x") == SplitSettings().key("x")
    assert SplitSettings().key("x") != SplitSettings(seed=1).key("x")
    assert SplitSettings().key("x") != SplitSettings().key("y")


def test_holdout_products_are_unseen_and_keep_the_validation_share(pairs):
    frame, n = pairs
    split = split_pairs(frame, n, SplitSettings(holdout_products=0.1, seed=2))
    val, train = split.val, split.train
    pos = val[val["label"] == 1]
    assert len(pos) == round(len(frame) * 0.33)
    linked = np.unique(np.concatenate([frame["a"], frame["b"]]))
    unseen = linked[~split.seen_products[linked]]
    assert len(unseen) >= round(len(linked) * 0.1), "held-out products must be unseen"
    assert not codes(pos, n) & codes(train, n)
    # with no hold-out, the same seed leaves far fewer products unseen
    plain = split_pairs(frame, n, SplitSettings(seed=2))
    assert (~plain.seen_products[linked]).sum() < len(unseen)


def test_holdout_share_is_validated():
    with pytest.raises(SettingsError, match="holdout_products"):
        SplitSettings(holdout_products=0.7)
