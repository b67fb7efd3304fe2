"""Split invariants: the method's 67/33 split and the train/validation/test default, with
balanced, truly negative negatives under every protocol."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_core.common.settings import SettingsError
from recsys_core.data import pairs_from_edges
from recsys_core.split import (
    NEGATIVE_PROTOCOLS,
    Split,
    SplitSettings,
    degree_bucket,
    split_pairs,
    train_degree,
)


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
    split = split_pairs(frame, n, SplitSettings.method(seed=3))
    val, train = split.val, split.train
    assert len(split.test) == 0 and split.reported_part == "validation"
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
        split_pairs(frame, n, SplitSettings.method(val_fraction=0.5))


def test_settings_key_is_stable_and_sensitive():
    assert SplitSettings().key("x") == SplitSettings().key("x")
    assert SplitSettings().key("x") != SplitSettings(seed=1).key("x")
    assert SplitSettings().key("x") != SplitSettings().key("y")
    assert SplitSettings().key("x") != SplitSettings(negatives="degree-matched").key("x")
    assert SplitSettings().key("x") != SplitSettings.method().key("x")


def test_holdout_products_are_unseen_and_keep_the_validation_share(pairs):
    frame, n = pairs
    split = split_pairs(frame, n, SplitSettings.method(holdout_products=0.1, seed=2))
    val, train = split.val, split.train
    pos = val[val["label"] == 1]
    assert len(pos) == round(len(frame) * 0.33)
    linked = np.unique(np.concatenate([frame["a"], frame["b"]]))
    unseen = linked[~split.seen_products[linked]]
    assert len(unseen) >= round(len(linked) * 0.1), "held-out products must be unseen"
    assert not codes(pos, n) & codes(train, n)
    # with no hold-out, the same seed leaves far fewer products unseen
    plain = split_pairs(frame, n, SplitSettings.method(seed=2))
    assert (~plain.seen_products[linked]).sum() < len(unseen)


def test_holdout_share_is_validated():
    with pytest.raises(SettingsError, match="holdout_products"):
        SplitSettings(holdout_products=0.7)


def test_train_validation_test_parts_are_disjoint(pairs, tmp_path):
    frame, n = pairs
    settings = SplitSettings(seed=4)
    split = split_pairs(frame, n, settings)
    val_pos = split.val[split.val["label"] == 1]
    test_pos = split.test[split.test["label"] == 1]
    assert len(val_pos) == round(len(frame) * settings.val_fraction)
    assert len(test_pos) == round(len(frame) * settings.test_fraction)
    assert len(split.train) + len(val_pos) + len(test_pos) == len(frame)
    assert not codes(val_pos, n) & codes(test_pos, n)
    assert not codes(test_pos, n) & codes(split.train, n)
    assert (split.test["label"] == 0).sum() == len(test_pos)
    seen = split.seen_products
    np.testing.assert_array_equal(split.test["seen"], seen[split.test["a"]] & seen[split.test["b"]])
    assert split.reported_part == settings.reported_part == "test"
    assert split.reported() is split.test
    split.save(tmp_path)
    back = Split.load(tmp_path)
    assert back.test.equals(split.test) and back.negatives == "uniform"


def test_method_preset_is_67_33_without_test():
    method = SplitSettings.method()
    assert (method.val_fraction, method.test_fraction) == (0.33, 0.0)
    assert method.negatives == "uniform" and method.reported_part == "validation"


def test_holdout_products_go_to_validation_and_test(pairs):
    frame, n = pairs
    split = split_pairs(frame, n, SplitSettings(holdout_products=0.1, seed=2))
    for part in (split.val, split.test):
        assert (~part["seen"] & (part["label"] == 1)).sum() > 0


@pytest.mark.parametrize("protocol", NEGATIVE_PROTOCOLS)
def test_every_protocol_draws_true_negatives(pairs, protocol):
    frame, n = pairs
    split = split_pairs(frame, n, SplitSettings(negatives=protocol, seed=1))
    real = codes(frame, n)
    for part in (split.val, split.test):
        pos, neg = part[part["label"] == 1], part[part["label"] == 0]
        assert len(pos) == len(neg) > 0
        assert not codes(neg, n) & real, "a negative is a real pair"
        assert (neg["a"] < neg["b"]).all(), "a negative is a self-pair or unordered"


def test_degree_matched_negatives_share_the_positives_degree_buckets(pairs):
    frame, n = pairs
    split = split_pairs(frame, n, SplitSettings(negatives="degree-matched", seed=1))
    bucket = degree_bucket(split.train_degree())
    test = split.test
    pos, neg = test[test["label"] == 1], test[test["label"] == 0]
    # every negative keeps one product of its positive and matches the other's bucket
    # (a bucket fully linked to the kept product widens to its neighbours)
    pos_hist = np.bincount(np.r_[bucket[pos["a"]], bucket[pos["b"]]], minlength=20)
    neg_hist = np.bincount(np.r_[bucket[neg["a"]], bucket[neg["b"]]], minlength=20)
    distance = np.abs(pos_hist - neg_hist).sum() / pos_hist.sum() / 2
    assert distance < 0.1, distance
    uniform = split_pairs(frame, n, SplitSettings(seed=1)).test
    uni_neg = uniform[uniform["label"] == 0]
    uni_hist = np.bincount(np.r_[bucket[uni_neg["a"]], bucket[uni_neg["b"]]], minlength=20)
    assert np.abs(pos_hist - uni_hist).sum() / pos_hist.sum() / 2 > 2 * distance


def test_two_hop_negatives_are_two_steps_away(pairs):
    frame, n = pairs
    split = split_pairs(frame, n, SplitSettings(negatives="two-hop", seed=1))
    deg = split.train_degree()
    adj = np.zeros((n, n), dtype=bool)
    adj[split.train["a"], split.train["b"]] = adj[split.train["b"], split.train["a"]] = True
    two_hop = (adj.astype(np.int32) @ adj.astype(np.int32)) > 0
    neg = split.test[split.test["label"] == 0]
    near = two_hop[neg["a"], neg["b"]]
    # only pairs with an unseen product fall back to degree matching
    with_unseen = (deg[neg["a"]] == 0) | (deg[neg["b"]] == 0)
    assert near[~with_unseen].mean() > 0.95


def test_degree_bucket_is_log2():
    np.testing.assert_array_equal(
        degree_bucket(np.array([0, 1, 2, 3, 4, 7, 8])), [0, 1, 2, 2, 3, 3, 4]
    )
    frame = pairs_from_edges(np.array([0, 0]), np.array([1, 2]), np.ones(2), 4)
    np.testing.assert_array_equal(train_degree(4, frame), [2, 1, 1, 0])


def test_popularity_scores_half_under_degree_matched_negatives():
    """The protocol's purpose: with popularity controlled, popularity ranks at chance."""
    from recsys_core.data.registry import DatasetSettings, load_dataset
    from recsys_core.evaluation.evaluate import evaluate
    from recsys_core.graph import build_graph
    from recsys_core.models.base import TrainingData
    from recsys_core.models.heuristic import HeuristicSettings, Popularity

    dataset, _ = load_dataset(DatasetSettings(source="synthetic", products=3000, seed=7))
    aucs = {}
    for protocol in ("uniform", "degree-matched"):
        split = split_pairs(dataset.pairs, dataset.n_products, SplitSettings(negatives=protocol))
        graph = build_graph(dataset.n_products, *split.train_arrays())
        data = TrainingData(
            dataset.n_products,
            dataset.products,
            (),
            split.train,
            graph,
            None,
            None,
            split.seen_products,
        )
        emb = Popularity(HeuristicSettings(dim=0)).fit(data)
        report = evaluate(emb, split.test, split.seen_products, train_graph=graph)
        aucs[protocol] = report.auc_all
    assert abs(aucs["degree-matched"] - 0.5) <= 0.03, aucs
    assert aucs["uniform"] > 0.6, aucs  # the bias the protocol removes


# -- the time split (interaction data) ---------------------------------------------------


@pytest.fixture(scope="module")
def log_dataset(tmp_path_factory):
    import pandas as pd

    from recsys_core.data.interactions import load_interactions

    rng = np.random.default_rng(4)
    n = 4000
    frame = pd.DataFrame(
        {
            "user": rng.integers(0, 60, n),
            "item": np.minimum(rng.zipf(1.4, n), 300),
            "time": rng.permutation(n) * 10.0,
        }
    )
    path = tmp_path_factory.mktemp("log") / "log.csv"
    frame.to_csv(path, index=False)
    return load_interactions(path)


def _pair_parts(split):
    parts = {}
    for name, frame in (("train", split.train), ("validation", split.val), ("test", split.test)):
        if name != "train":
            frame = frame[frame["label"] == 1]
        for a, b in zip(frame["a"], frame["b"], strict=True):
            parts[(int(a), int(b))] = name
    return parts


@pytest.mark.parametrize("scope", ["user", "global"])
def test_time_split_no_test_pair_older_than_a_train_pair_of_its_user(log_dataset, scope):
    ds = log_dataset
    settings = SplitSettings(strategy="time", time_scope=scope)
    split = split_pairs(ds.pairs, ds.n_products, settings, ds.events)
    assert split.strategy == "time" and split.summary()["split"] == "time"
    assert len(split.test) and len(split.val) and len(split.train)
    parts = _pair_parts(split)
    # The rule itself: per user (or globally), the held-out events are the latest ones.
    from recsys_core.split import event_parts

    eparts = event_parts(ds.events, settings)
    keys = ds.events["user"] if scope == "user" else np.zeros(len(ds.events), dtype=int)
    for _, index in pd_groups(keys):
        times = ds.events["time"].to_numpy()[index]
        part = eparts[index]
        if (part == 2).any() and (part == 0).any():
            assert times[part == 2].min() >= times[part == 0].max()
        if (part == 1).any() and (part == 0).any():
            assert times[part == 1].min() >= times[part == 0].max()
    # A test pair's every occurrence is a held-out event, so no test pair of a user is
    # older than any train event of that user.
    test_pairs = {k for k, v in parts.items() if v == "test"}
    on_test = np.array(
        [
            (int(a), int(b)) in test_pairs
            for a, b in zip(ds.events["a"], ds.events["b"], strict=True)
        ]
    )
    assert on_test.any() and (eparts[on_test] == 2).all()
    # So, per user: the oldest occurrence of a test pair is no older than the newest
    # train occurrence of any train pair.
    if scope == "user":
        times = ds.events["time"].to_numpy()
        users = ds.events["user"].to_numpy()
        on_train = (eparts == 0) & np.array(
            [
                parts[(int(a), int(b))] == "train"
                for a, b in zip(ds.events["a"], ds.events["b"], strict=True)
            ]
        )
        checked = 0
        for user in np.unique(users[on_test]):
            mine = users == user
            if (mine & on_train).any():
                assert times[mine & on_test].min() >= times[mine & on_train].max()
                checked += 1
        assert checked > 10


def pd_groups(keys):
    import pandas as pd

    return pd.Series(np.arange(len(keys))).groupby(np.asarray(keys)).indices.items()


def test_time_split_train_weights_count_train_events_only(log_dataset):
    ds = log_dataset
    split = split_pairs(ds.pairs, ds.n_products, SplitSettings(strategy="time"), ds.events)
    full = ds.pairs.set_index(["a", "b"])["weight"]
    train = split.train.set_index(["a", "b"])["weight"]
    assert (train <= full.loc[train.index] + 1e-6).all()
    assert (train < full.loc[train.index]).any()  # some pairs recur after the cutoff


def test_time_split_needs_events_and_says_so(pairs):
    frame, n = pairs
    with pytest.raises(SettingsError, match="--split random"):
        split_pairs(frame, n, SplitSettings(strategy="time"))
    with pytest.raises(SettingsError, match="holds out the latest pairs"):
        SplitSettings(strategy="time", holdout_products=0.1)


def test_time_split_fields_keep_old_keys():
    # The key of the default split on main, before the time split existed.
    assert SplitSettings().key("x") == "af6eb2bda0570251"
    assert SplitSettings().key("x") == SplitSettings(strategy="random").key("x")
    assert SplitSettings().key("x") != SplitSettings(strategy="time").key("x")
    assert "time split" in SplitSettings(strategy="time").describe()
    assert "random split" in SplitSettings().describe()
