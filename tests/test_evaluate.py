"""Evaluation agrees with scikit-learn, unseen policies behave, ranking has known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from recsys_core.common.settings import SettingsError
from recsys_core.evaluation.evaluate import (
    EvalReport,
    EvalSettings,
    auc_curve_frame,
    evaluate,
    pr_frame,
    roc_frame,
)
from recsys_core.evaluation.results import results_table, save_results, to_markdown
from recsys_core.models.base import Embeddings, TrainEvent


@pytest.mark.parametrize("seed", range(8))
def test_curves_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 80))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.integers(0, 6, n) / 5.0  # many ties, like the median policy makes
    fpr, tpr, thr = roc_curve(labels, scores)
    roc = roc_frame(scores, labels)
    np.testing.assert_allclose(roc["fpr"], fpr)
    np.testing.assert_allclose(roc["tpr"], tpr)
    np.testing.assert_array_equal(roc["threshold"], thr)
    precision, recall, pthr = precision_recall_curve(labels, scores)
    pr = pr_frame(scores, labels)
    np.testing.assert_allclose(pr["precision"], precision[:-1])
    np.testing.assert_allclose(pr["recall"], recall[:-1])
    np.testing.assert_allclose(pr["threshold"], pthr)


def test_thinned_curve_keeps_ends_and_the_big_tie() -> None:
    rng = np.random.default_rng(0)
    scores = np.r_[rng.random(5000), np.full(3000, 0.5)]
    labels = rng.integers(0, 2, len(scores))
    roc = roc_frame(scores, labels, max_points=100)
    assert len(roc) <= 210
    assert roc["fpr"].iloc[0] == 0 and roc["tpr"].iloc[-1] == 1
    assert (roc["threshold"] == 0.5).any()


def _embeddings() -> Embeddings:
    # products 0..3 trained; 4 untrained (zero vector); 5 cold-start with a real vector
    vectors = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [0, 0], [1, 0.05]], dtype=np.float32)
    trained = np.array([1, 1, 1, 1, 0, 0], dtype=bool)
    cold = np.array([0, 0, 0, 0, 0, 1], dtype=bool)
    return Embeddings(vectors=vectors, trained=trained, cold_start=cold)


def _val() -> pd.DataFrame:
    val = pd.DataFrame(
        {
            "a": [0, 2, 0, 1, 4, 5, 4, 5],
            "b": [1, 3, 2, 3, 0, 0, 2, 2],
            "label": [1, 1, 0, 0, 1, 1, 0, 0],
        }
    )
    seen_products = np.array([1, 1, 1, 1, 0, 0], dtype=bool)
    val["seen"] = seen_products[val["a"]] & seen_products[val["b"]]
    return val, seen_products


def test_evaluate_aucs_and_median_policy() -> None:
    emb = _embeddings()
    val, seen_products = _val()
    settings = EvalSettings(unseen_policy="median", ranking_queries=0)
    report = evaluate(emb, val, seen_products, settings)
    assert report.unseen_policy == "median"
    scores = emb.score_pairs(val["a"].to_numpy(), val["b"].to_numpy())
    seen = val["seen"].to_numpy()
    median = np.median(scores[seen])
    expected = np.where(seen, scores, median)
    assert report.info["median_score"] == pytest.approx(median)
    assert report.auc_all == pytest.approx(roc_auc_score(val["label"], expected))
    assert report.auc_seen == pytest.approx(1.0)
    assert report.auc_unseen == pytest.approx(0.5)  # every unseen pair got the same score
    assert report.counts["filled_pairs"] == 4 and report.counts["unseen_pairs"] == 4
    assert report.counts["unseen_positives"] == 2
    # the cliff: one threshold at the median holds all four filled pairs
    pr = report.curves["pr_all"]
    assert np.isclose(pr["threshold"], median).sum() == 1


def test_cold_start_and_random_policies() -> None:
    emb = _embeddings()
    val, seen_products = _val()
    cold = evaluate(emb, val, seen_products, EvalSettings(unseen_policy="cold-start"))
    # product 5 is cold-started: pairs (5, 0) and (5, 2) keep their own cosine, which
    # separates them; product 4 still gets the median
    assert cold.counts["filled_pairs"] == 2
    assert cold.auc_unseen == pytest.approx(roc_auc_score([1, 1, 0, 0], [0.5, 0.99, 0.5, 0.05]))
    rand = evaluate(emb, val, seen_products, EvalSettings(unseen_policy="random"))
    assert rand.counts["filled_pairs"] == 0
    raw = emb.score_pairs(val["a"].to_numpy(), val["b"].to_numpy())
    assert rand.auc_all == pytest.approx(roc_auc_score(val["label"], raw))


def test_auto_policy_cold_starts_only_models_that_can() -> None:
    emb = _embeddings()
    val, seen_products = _val()
    auto = evaluate(emb, val, seen_products)
    cold = evaluate(emb, val, seen_products, EvalSettings(unseen_policy="cold-start"))
    assert auto.settings["unseen_policy"] == "auto" and auto.unseen_policy == "cold-start"
    assert auto.auc_all == cold.auc_all and auto.counts == cold.counts
    plain = Embeddings(vectors=emb.vectors, trained=emb.trained)  # no cold-start vectors
    auto = evaluate(plain, val, seen_products)
    median = evaluate(plain, val, seen_products, EvalSettings(unseen_policy="median"))
    assert auto.unseen_policy == "median" and auto.auc_all == median.auc_all


def test_live_monitor_uses_the_final_policy() -> None:
    from recsys_core.evaluation.auc import make_monitor

    emb = _embeddings()
    val, seen_products = _val()
    for policy in ("auto", "median", "cold-start", "random"):
        report = evaluate(emb, val, seen_products, EvalSettings(unseen_policy=policy))
        assert make_monitor(val, policy)(emb) == pytest.approx(
            (report.auc_all, report.auc_seen), nan_ok=True
        )


def test_by_bucket_splits_pairs_by_their_rarer_product() -> None:
    rng = np.random.default_rng(0)
    n = 300
    # a star-heavy train graph: degrees spread from 0 to ~100
    src = rng.integers(0, n, 3000)
    dst = np.minimum(rng.zipf(1.5, 3000), n) - 1
    graph = sp.coo_matrix((np.ones(6000), (np.r_[src, dst], np.r_[dst, src])), shape=(n, n))
    graph = sp.csr_matrix((graph.tocsr() > 0).astype(np.float32))
    graph.setdiag(0)
    graph.eliminate_zeros()
    degree = np.diff(graph.indptr)
    a = rng.integers(0, n, 2000)
    b = rng.integers(0, n, 2000)
    labels = rng.random(2000) < 0.5
    vectors = rng.normal(size=(n, 4)).astype(np.float32)
    emb = Embeddings(vectors=vectors, trained=degree > 0)
    val = pd.DataFrame({"a": a, "b": b, "label": labels.astype(np.int8)})
    report = evaluate(emb, val, degree > 0, EvalSettings(unseen_policy="random"), graph)
    table = report.by_bucket
    assert table["bucket"].tolist() == ["head", "torso", "tail", "unseen"]
    assert table["pairs"].sum() == len(val), "every pair in exactly one bucket"
    min_degree = np.minimum(degree[a], degree[b])
    for row in table.itertuples():
        inside = (min_degree >= row.min_degree_from) & (min_degree <= row.min_degree_to)
        assert inside.sum() == row.pairs
        scores = emb.score_pairs(a[inside], b[inside])
        if 0 < labels[inside].sum() < inside.sum():
            assert row.auc == pytest.approx(roc_auc_score(labels[inside], scores))
    unseen = table.set_index("bucket").loc["unseen"]
    assert unseen["pairs"] == (min_degree == 0).sum()
    # tertiles of the seen positives: the three seen buckets hold similar positive counts
    seen_pos = table.set_index("bucket").loc[["head", "torso", "tail"], "positives"]
    assert seen_pos.min() > 0.15 * seen_pos.sum()
    assert table["hit_rate"].notna().any()


def test_bad_policy_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="unseen_policy"):
        EvalSettings(unseen_policy="mean")


def test_report_roundtrip_and_results_table(tmp_path) -> None:
    emb = _embeddings()
    val, seen_products = _val()
    graph = sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 0])), shape=(6, 6))
    report = evaluate(
        emb, val, seen_products, train_graph=graph, part="test", protocol="degree-matched"
    )
    # products of the positive pairs (0, 1), (2, 3), (4, 0), (5, 0): 0..5
    assert report.counts["ranking_queries"] == 6
    assert (report.part, report.protocol) == ("test", "degree-matched")
    report.save(tmp_path / "r")
    back = EvalReport.load(tmp_path / "r")
    assert back.metrics() == pytest.approx(report.metrics(), nan_ok=True)
    assert back.ranking == pytest.approx(report.ranking, nan_ok=True)
    for name, values in report.per_query.items():
        np.testing.assert_array_equal(back.per_query[name], values)
    for name, frame in report.curves.items():
        pd.testing.assert_frame_equal(frame, back.curves[name])
    pd.testing.assert_frame_equal(back.by_bucket, report.by_bucket)
    assert back.part == "test" and back.unseen_policy == "cold-start"
    df = results_table([("gensim-sg", "gensim word2vec", report, 90.0, {"epochs": 5}, "toy")])
    assert list(df.columns[:18]) == [
        "model",
        "NDCG@10",
        "NDCG@10 low",
        "NDCG@10 high",
        "HitRate@10",
        "HitRate@10 low",
        "HitRate@10 high",
        "Recall@10",
        "MRR",
        "NDCG@50",
        "HitRate@50",
        "Recall@50",
        "Coverage@10",
        "Popularity@10",
        "AUC all",
        "lift_over_popularity",
        "AUC seen",
        "AUC unseen",
    ]
    assert df["NDCG@10 low"].iloc[0] <= df["NDCG@10"].iloc[0] <= df["NDCG@10 high"].iloc[0]
    assert df["minutes"].iloc[0] == 1.5
    assert np.isnan(df["lift_over_popularity"].iloc[0])  # no popularity row to compare to
    md = to_markdown(df)
    assert md.startswith("Dataset: toy") and "| gensim word2vec |" in md
    assert "Pairs: test; Negatives: degree-matched; Split: random; Ranked among: all products" in md
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert header.startswith("| model | NDCG@10 | HitRate@10 |") and " low" not in header
    assert " ± " in md
    path = save_results(df, tmp_path / "results.csv")
    assert pd.read_csv(path)["settings"].iloc[0] == '{"epochs": 5}'


def test_auc_curve_frame_marks_restarts() -> None:
    events = [
        TrainEvent(step=0, epoch=0, loss=1.0, lr=0.01, elapsed=0.1),
        TrainEvent(step=1, epoch=0, loss=0.9, lr=0.005, elapsed=0.2, auc=0.6, epoch_end=True),
        TrainEvent(step=2, epoch=1, loss=0.8, lr=0.01, elapsed=0.3, auc=0.7, auc_seen=0.8),
        TrainEvent(step=3, epoch=1, loss=0.7, lr=0.0, elapsed=0.4, auc=0.75, epoch_end=True),
    ]
    frame = auc_curve_frame([events[0], *[e.as_dict() for e in events[1:]]])
    assert frame["step"].tolist() == [1, 2, 3]
    assert frame["restart"].tolist() == [True, False, True]
    assert frame.attrs["restarts"] == [1, 3]


def test_lift_over_popularity_compares_the_same_pairs() -> None:
    emb = _embeddings()
    val, seen_products = _val()
    graph = sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 0])), shape=(6, 6))

    def report(protocol: str, policy: str) -> EvalReport:
        settings = EvalSettings(unseen_policy=policy)
        return evaluate(emb, val, seen_products, settings, graph, "test", protocol)

    entries = [
        ("popularity", "Popularity", report("uniform", "median"), 0.0, {}, "toy"),
        ("sgns", "skip-gram", report("uniform", "random"), 1.0, {}, "toy"),
        ("sgns", "skip-gram", report("degree-matched", "random"), 1.0, {}, "toy"),
    ]
    df = results_table(entries)
    pop, sg, _ = (e[2].auc_all for e in entries)
    assert df["lift_over_popularity"].iloc[0] == 0.0
    assert df["lift_over_popularity"].iloc[1] == pytest.approx(sg - pop)
    assert np.isnan(df["lift_over_popularity"].iloc[2]), "no popularity under that protocol"
    assert df["unseen_policy"].tolist() == ["median", "random", "random"]
    md = to_markdown(df)
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert "protocol" in header and "part" not in header, "mixed protocols get a column"
    assert "Pairs: test" in md


def test_a_report_saved_before_intervals_still_loads(tmp_path) -> None:
    import json

    emb = _embeddings()
    val, seen_products = _val()
    report = evaluate(emb, val, seen_products, EvalSettings(bootstrap=0))
    report.save(tmp_path / "r")
    path = tmp_path / "r" / "report.json"
    meta = json.loads(path.read_text())
    # the shape CODE_VERSION 2 wrote: flat figures at k, no ranking, no per-query arrays
    meta["metrics"] |= {"hit_rate": 0.25, "ndcg": 0.125, "hit_rate_seen": 0.5, "ndcg_seen": None}
    del meta["ranking"], meta["k_wide"]
    path.write_text(json.dumps(meta))
    (tmp_path / "r" / "queries.npz").unlink()
    old = EvalReport.load(tmp_path / "r")
    assert (old.hit_rate, old.ndcg, old.hit_rate_seen) == (0.25, 0.125, 0.5)
    assert np.isnan(old.ndcg_seen) and np.isnan(old.interval("ndcg@10").low)
    assert old.per_query == {}
    row = old.as_row()
    assert row["NDCG@10"] == 0.125 and np.isnan(row["Recall@10"])
