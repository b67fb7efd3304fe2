"""Ranking metrics have hand-computed answers, agree with a brute-force ranking, and their
intervals behave (narrower with more queries, a paired difference separates models)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_core.evaluation import intervals
from recsys_core.evaluation.evaluate import EvalSettings, evaluate, paired_difference
from recsys_core.evaluation.ranking import TOP, Queries, build_queries, rank_queries
from recsys_core.models.base import Embeddings


class Fixed(Embeddings):
    """Embeddings whose score is a given (n x n) matrix: hand-made rankings."""

    kind = "test-fixed-scores"

    def score_block(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        matrix = self.extras["matrix"]
        return matrix[np.ix_(np.asarray(queries), np.asarray(candidates))].astype(np.float32)

    def score_pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.extras["matrix"][np.asarray(a), np.asarray(b)].astype(np.float64)


def fixed(matrix: np.ndarray) -> Fixed:
    n = len(matrix)
    return Fixed(
        vectors=np.zeros((n, 1), np.float32),
        trained=np.ones(n, bool),
        extras={"matrix": np.asarray(matrix, dtype=np.float32)},
    )


def one_query(product: int, relevant: list[int], seen: bool = True) -> Queries:
    return Queries(
        products=np.array([product], np.int64),
        rel_ptr=np.array([0, len(relevant)], np.int64),
        rel=np.array(relevant, np.int64),
        seen=np.array([seen]),
    )


def row_scores(n: int, query_row: list[float]) -> np.ndarray:
    matrix = np.zeros((n, n), np.float32)
    matrix[0] = query_row
    return matrix


def test_single_relevant_known_ranks_and_metrics() -> None:
    # query 0; candidates 1..5 scored 5, 4, 3, 2, 1; relevant: product 3 (rank 2)
    emb = fixed(row_scores(6, [9, 5, 4, 3, 2, 1]))
    res = rank_queries(emb, one_query(0, [3]), np.ones(6, bool), ks=(2, 3))
    assert res.rank.tolist() == [2.0]
    m = res.per_query()
    assert m["hit_rate@2"][0] == 0.0 and m["hit_rate@3"][0] == 1.0
    assert m["ndcg@3"][0] == pytest.approx(1 / np.log2(4))
    assert m["recall@3"][0] == 1.0 and m["recall@2"][0] == 0.0
    assert m["mrr"][0] == pytest.approx(1 / 3)
    # the query itself (score 9) is never a candidate; the top list is by score
    assert res.top[0, :5].tolist() == [1, 2, 3, 4, 5] and res.top[0, 5] == -1


def test_multi_relevant_positions_ndcg_recall() -> None:
    # scores of candidates 1..6: 6, 5, 4, 3, 2, 1; relevant {1, 3, 6}
    emb = fixed(row_scores(7, [0, 6, 5, 4, 3, 2, 1]))
    res = rank_queries(emb, one_query(0, [1, 3, 6]), np.ones(7, bool), ks=(3, 10))
    # filtered ranks leave the other relevant items out: 1 -> 0, 3 -> 1 (only 2 above),
    # 6 -> 3 (2, 4, 5 above); positions in the list: 0, 2, 5
    assert res.rank.tolist() == [0.0, 1.0, 3.0]
    assert res.position.tolist() == [0.0, 2.0, 5.0]
    m = res.per_query()
    ideal3 = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert m["ndcg@3"][0] == pytest.approx((1 + 1 / np.log2(4)) / ideal3)
    assert m["recall@3"][0] == pytest.approx(2 / 3)
    assert m["hit_rate@3"][0] == 1.0 and m["mrr"][0] == 1.0
    ideal10 = ideal3  # min(|relevant|, 10) = 3 ideal items
    assert m["ndcg@10"][0] == pytest.approx((1 + 1 / np.log2(4) + 1 / np.log2(7)) / ideal10)
    assert m["recall@10"][0] == 1.0


def test_many_relevant_ndcg_is_at_most_one_and_ideal_is_capped_at_k() -> None:
    # 30 relevant items (more than the compiled scan's per-item passes take) all on top
    n = 60
    scores = np.r_[0.0, np.linspace(10, 1, n - 1)]
    emb = fixed(row_scores(n, list(scores)))
    relevant = list(range(1, 31))
    res = rank_queries(emb, one_query(0, relevant), np.ones(n, bool), ks=(10,))
    assert np.all(res.rank == 0)  # no non-relevant item above any of them
    m = res.per_query()
    assert m["ndcg@10"][0] == pytest.approx(1.0)
    assert m["recall@10"][0] == pytest.approx(10 / 30)


def test_ties_count_half() -> None:
    # candidates 1..4 all score 1; relevant {2}: 3 others tie -> rank 1.5
    emb = fixed(row_scores(5, [0, 1, 1, 1, 1]))
    res = rank_queries(emb, one_query(0, [2]), np.ones(5, bool), ks=(1, 2))
    assert res.rank.tolist() == [1.5]
    m = res.per_query()
    assert m["hit_rate@2"][0] == 1.0 and m["hit_rate@1"][0] == 0.0
    assert m["mrr"][0] == pytest.approx(1 / 2.5)
    # two relevant items tied with each other at the top: both rank 0, positions 0.5
    emb = fixed(row_scores(5, [0, 2, 2, 1, 1]))
    res = rank_queries(emb, one_query(0, [1, 2]), np.ones(5, bool), ks=(2,))
    assert res.rank.tolist() == [0.0, 0.0]
    assert res.position.tolist() == [0.5, 0.5]
    assert res.per_query()["ndcg@2"][0] <= 1.0


def test_filtering_known_other_part_and_unusable() -> None:
    emb = fixed(row_scores(6, [0, 5, 4, 3, 2, 1]))
    # 1 is a train neighbour, 2 a partner in the other held-out part: both filtered
    known = sp.csr_matrix(([1.0, 1.0], ([0, 0], [1, 2])), shape=(6, 6))
    res = rank_queries(emb, one_query(0, [4]), np.ones(6, bool), known, ks=(10,))
    assert res.rank.tolist() == [1.0]  # only 3 above
    assert res.top[0, :3].tolist() == [3, 4, 5]
    # a relevant item listed as known stays a candidate (relevant wins)
    known = sp.csr_matrix(([1.0], ([0], [4])), shape=(6, 6))
    res = rank_queries(emb, one_query(0, [4]), np.ones(6, bool), known, ks=(10,))
    assert res.rank.tolist() == [3.0] and 4 in res.top[0]
    # an unusable candidate is never counted nor listed; an unusable relevant is a miss
    usable = np.array([1, 0, 1, 1, 0, 1], bool)
    res = rank_queries(emb, one_query(0, [3, 4]), usable, ks=(10,))
    assert res.rank[0] == 1.0 and np.isinf(res.rank[1])
    assert 1 not in res.top[0] and 4 not in res.top[0]
    assert res.per_query()["recall@10"][0] == 0.5
    # an unusable query recommends nothing: every relevant item is a miss
    usable = np.array([0, 1, 1, 1, 1, 1], bool)
    res = rank_queries(emb, one_query(0, [3]), usable, ks=(10,))
    assert np.isinf(res.rank[0]) and (res.top[0] == -1).all()
    assert res.per_query()["mrr"][0] == 0.0


def test_coverage_and_popularity_of_the_lists() -> None:
    # two queries; every product scores by its id: both lists are the highest ids
    n = 15
    matrix = np.tile(np.arange(n, dtype=np.float32), (n, 1))
    emb = fixed(matrix)
    queries = Queries(
        products=np.array([0, 1], np.int64),
        rel_ptr=np.array([0, 1, 2], np.int64),
        rel=np.array([2, 3], np.int64),
        seen=np.array([True, False]),
    )
    log_degree = np.log1p(np.arange(n, dtype=np.float64))
    res = rank_queries(emb, queries, np.ones(n, bool), log_degree=log_degree)
    assert res.top[0].tolist() == list(range(14, 4, -1))
    assert res.coverage() == pytest.approx(10 / n)
    m = res.per_query()
    assert m[f"popularity@{TOP}"][0] == pytest.approx(log_degree[5:15].mean())
    metrics = res.metrics()
    assert metrics["coverage@10"] == pytest.approx(10 / n)
    # the seen figures average over the seen query (0) only
    assert metrics["popularity@10_seen"] == m[f"popularity@{TOP}"][0]


def test_build_queries_gathers_all_partners_and_seen() -> None:
    a = np.array([0, 0, 2, 3, 1])
    b = np.array([1, 2, 3, 3, 0])  # (3, 3) is a self-pair; (1, 0) repeats (0, 1)
    seen = np.array([1, 1, 1, 0], bool)
    q = build_queries(a, b, seen)
    assert q.products.tolist() == [0, 1, 2, 3]
    partners = [q.rel[q.rel_ptr[i] : q.rel_ptr[i + 1]].tolist() for i in range(len(q))]
    assert partners == [[1, 2], [0], [0, 3], [2]]
    assert q.seen.tolist() == [True, True, False, False]
    sample = build_queries(a, b, seen, max_queries=2, seed=3)
    assert len(sample) == 2 and set(sample.products) <= {0, 1, 2, 3}


def _random_case(seed: int) -> tuple[Embeddings, Queries, np.ndarray, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    n = 120
    emb = Embeddings(
        vectors=rng.standard_normal((n, 6)).astype(np.float32), trained=np.ones(n, bool)
    )
    a, b = rng.integers(0, n, 300), rng.integers(0, n, 300)
    queries = build_queries(a, b, rng.random(n) > 0.2)
    usable = rng.random(n) > 0.1
    edges = rng.integers(0, n, (250, 2))
    known = sp.csr_matrix(
        (np.ones(500), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
        shape=(n, n),
    )
    known.sum_duplicates()
    known.sort_indices()
    return emb, queries, usable, known


@pytest.mark.parametrize("seed", range(3))
def test_exact_ranking_equals_brute_force(seed: int) -> None:
    emb, queries, usable, known = _random_case(seed)
    res = rank_queries(emb, queries, usable, known)
    n = len(usable)
    full = emb.score_block(np.arange(n), np.arange(n))
    dense = known.toarray() > 0
    for i, q in enumerate(queries.products):
        rel = queries.rel[queries.rel_ptr[i] : queries.rel_ptr[i + 1]]
        valid = usable & ~dense[q]
        valid[rel] = usable[rel]
        valid[q] = False
        others = valid.copy()
        others[rel] = False
        row = full[q]
        for j, r in enumerate(rel):
            got = res.rank[queries.rel_ptr[i] + j]
            if not (usable[q] and usable[r]):
                assert np.isinf(got)
                continue
            expected = (row[others] > row[r]).sum() + 0.5 * (row[others] == row[r]).sum()
            assert got == expected
        if usable[q]:
            listed = np.flatnonzero(valid)
            best = listed[np.argsort(-row[listed], kind="stable")][:TOP]
            assert res.top[i][res.top[i] >= 0].tolist() == best.tolist()


def test_blocked_equals_unblocked() -> None:
    emb, queries, usable, known = _random_case(7)
    whole = rank_queries(emb, queries, usable, known, block_floats=1 << 20, chunk=1 << 20)
    tiny = rank_queries(emb, queries, usable, known, block_floats=15, chunk=5)
    np.testing.assert_array_equal(whole.rank, tiny.rank)
    np.testing.assert_array_equal(whole.top, tiny.top)
    for name, values in whole.per_query().items():
        np.testing.assert_array_equal(values, tiny.per_query()[name])


def test_candidate_sample_ranks_against_the_sample_and_lists_relevant_items() -> None:
    emb, queries, usable, known = _random_case(1)
    res = rank_queries(emb, queries, usable, known, max_candidates=40, seed=0)
    assert res.sampled and res.n_candidates == 40
    sample = np.sort(np.random.default_rng(0).choice(len(usable), 40, replace=False))
    in_sample = np.zeros(len(usable), bool)
    in_sample[sample] = True
    full = emb.score_block(np.arange(len(usable)), np.arange(len(usable)))
    dense = known.toarray() > 0
    for i, q in enumerate(queries.products):
        rel = queries.rel[queries.rel_ptr[i] : queries.rel_ptr[i + 1]]
        others = in_sample & usable & ~dense[q]
        others[rel] = False
        others[q] = False
        for j, r in enumerate(rel):
            got = res.rank[queries.rel_ptr[i] + j]
            if usable[q] and usable[r]:
                row = full[q]
                expected = (row[others] > row[r]).sum() + 0.5 * (row[others] == row[r]).sum()
                assert got == expected  # outside the sample or not, ranked among it
        # a relevant item scoring above the whole sample heads the list, sampled or not
        if usable[q]:
            scored = [r for r in rel if usable[r]]
            best = max(scored, key=lambda r: full[q, r], default=None)
            if best is not None and full[q, best] > full[q][others].max():
                assert res.top[i, 0] == best


def test_interval_narrows_with_more_queries() -> None:
    rng = np.random.default_rng(0)
    hits = (rng.random(8000) < 0.3).astype(float)
    small = intervals.bootstrap(hits[:500])
    large = intervals.bootstrap(hits)
    assert small.low <= small.value <= small.high
    assert large.high - large.low < 0.5 * (small.high - small.low)
    # about the binomial width: 1.96 * sqrt(p (1 - p) / n)
    assert large.half_width == pytest.approx(1.96 * np.sqrt(0.3 * 0.7 / 8000), rel=0.25)


def test_paired_interval_separates_a_clearly_better_model() -> None:
    rng = np.random.default_rng(1)
    base = (rng.random(3000) < 0.2).astype(float)
    better = base.copy()
    better[rng.random(3000) < 0.05] = 1.0  # a few more hits, never fewer
    diff = intervals.paired(better, base)
    assert diff.excludes_zero() and diff.low > 0
    same = intervals.paired(base, base[rng.permutation(3000)])
    assert not same.excludes_zero()


def test_over_seeds_includes_the_seed_spread() -> None:
    rng = np.random.default_rng(2)
    seeds = [(rng.random(2000) < p).astype(float) for p in (0.2, 0.3, 0.25)]
    one = intervals.bootstrap(seeds[0])
    combined = intervals.over_seeds(seeds)
    assert combined.value == pytest.approx(np.mean([s.mean() for s in seeds]))
    assert combined.high - combined.low > one.high - one.low
    assert intervals.over_seeds(seeds[:1]).low == pytest.approx(one.low, abs=0.01)


def test_evaluate_reports_intervals_and_paired_difference(tmp_path) -> None:
    rng = np.random.default_rng(3)
    n = 200
    # a planted model: partners share a direction; a noise model
    centres = rng.standard_normal((20, 8))
    group = rng.integers(0, 20, n)
    good = Embeddings(
        vectors=(centres[group] + 0.3 * rng.standard_normal((n, 8))).astype(np.float32),
        trained=np.ones(n, bool),
    )
    noise = Embeddings(
        vectors=rng.standard_normal((n, 8)).astype(np.float32), trained=np.ones(n, bool)
    )
    a = rng.integers(0, n, 600)
    b = np.array([rng.choice(np.flatnonzero(group == group[x])) for x in a])
    pairs = pd.DataFrame({"a": a, "b": b, "label": 1})
    negatives = pd.DataFrame({"a": rng.integers(0, n, 600), "b": rng.integers(0, n, 600)})
    val = pd.concat([pairs, negatives.assign(label=0)], ignore_index=True)
    seen = np.ones(n, bool)
    settings = EvalSettings(bootstrap=300)
    report_good = evaluate(good, val, seen, settings)
    report_noise = evaluate(noise, val, seen, settings)
    iv = report_good.interval("ndcg@10")
    assert iv.low <= iv.value <= iv.high and iv.high > iv.low
    assert report_good.hit_rate == report_good.ranking["hit_rate@10"][0]
    diff = paired_difference(report_good, report_noise, "ndcg@10", resamples=300)
    assert diff.low > 0
    report_good.save(tmp_path / "g")
    report_noise.save(tmp_path / "n")
    from recsys_core.evaluation.evaluate import EvalReport

    again = paired_difference(
        EvalReport.load(tmp_path / "g"), EvalReport.load(tmp_path / "n"), "ndcg@10", 300
    )
    assert again == diff


def test_evaluate_filters_the_other_held_out_part() -> None:
    # query 0's best candidate is 1, a partner in the other part: filtered, never listed
    matrix = np.tile(np.array([0, 9, 8, 7, 6, 5], np.float32), (6, 1))
    emb = fixed(matrix)
    val = pd.DataFrame({"a": [0, 2], "b": [3, 4], "label": [1, 0]})
    other = pd.DataFrame({"a": [0], "b": [1], "label": [1]})
    seen = np.ones(6, bool)
    plain = evaluate(emb, val, seen, EvalSettings(bootstrap=0))
    filtered = evaluate(emb, val, seen, EvalSettings(bootstrap=0), other_part=other)
    query = list(plain.per_query["query"]).index(0)
    assert 1 in plain.per_query["top"][query]
    assert 1 not in filtered.per_query["top"][query]
    # partner 3 of query 0: below 1 and 2 -> rank 2; with 1 filtered -> rank 1
    assert plain.per_query["mrr"][query] == pytest.approx(1 / 3)
    assert filtered.per_query["mrr"][query] == pytest.approx(1 / 2)


def test_coverage_interval_is_a_jackknife_around_the_figure() -> None:
    # every list holds 10 products no other list holds: each query removes exactly 10,
    # so leaving any one out changes coverage equally and the interval has no width
    disjoint = np.arange(200).reshape(20, 10)
    iv = intervals.coverage_interval(disjoint, 400)
    assert iv.value == pytest.approx(0.5) and iv.high - iv.low == pytest.approx(0.0)
    # lists that share products: some queries add nothing of their own -> a spread
    rng = np.random.default_rng(0)
    shared = rng.integers(0, 60, size=(50, 10))
    shared[:, 9] = -1  # short lists are allowed
    iv = intervals.coverage_interval(shared, 100)
    listed = np.unique(shared[shared >= 0])
    assert iv.value == pytest.approx(len(listed) / 100)
    assert iv.low < iv.value < iv.high
