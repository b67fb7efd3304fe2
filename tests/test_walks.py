"""Random walks: shape, seeding, and the transition probabilities the definitions give."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from recsys_core.common.settings import SettingsError
from recsys_core.graph import build_graph, transition_matrix
from recsys_core.walks import WalkSettings, generate_walks, start_nodes, visit_counts


def make_graph():
    """A triangle 0-1-2 with a tail 2-3-4, a pendant 1-5 and two isolated products (6, 7).

    Uneven weights so a sampler that ignored them would be caught.
    """
    a = np.array([0, 0, 1, 2, 3, 1])
    b = np.array([1, 2, 2, 3, 4, 5])
    w = np.array([1.0, 3.0, 2.0, 5.0, 1.0, 0.5], dtype=np.float32)
    return build_graph(8, a, b, w)


GRAPH = make_graph()


def transition_counts(walks: np.ndarray, n: int) -> np.ndarray:
    counts = np.zeros((n, n))
    np.add.at(counts, (walks[:, :-1].ravel(), walks[:, 1:].ravel()), 1)
    return counts


def test_shape_dtype_order_and_isolated_products():
    s = WalkSettings(walks_per_node=3, length=7, seed=1)
    walks = generate_walks(GRAPH, s)
    starts = start_nodes(GRAPH)
    np.testing.assert_array_equal(starts, [0, 1, 2, 3, 4, 5])
    assert walks.dtype == np.int32
    assert walks.shape == (3 * 6, 7)
    # Pass-major: row r * n_start + s starts at the s-th start node.
    np.testing.assert_array_equal(walks[:, 0], np.tile(starts, 3))
    assert not np.isin(walks, [6, 7]).any()  # isolated products: no walk, never visited
    # Every step follows an edge.
    dense = GRAPH.toarray()
    assert (dense[walks[:, :-1], walks[:, 1:]] > 0).all()


def test_graph_without_edges_gives_no_walks():
    empty = build_graph(4, np.array([], int), np.array([], int), np.array([], np.float32))
    walks = generate_walks(empty, WalkSettings(length=5))
    assert walks.shape == (0, 5) and walks.dtype == np.int32


def test_same_seed_same_walks_other_seed_other_walks():
    s = WalkSettings(walks_per_node=5, length=10, seed=7)
    first = generate_walks(GRAPH, s)
    np.testing.assert_array_equal(first, generate_walks(GRAPH, s))
    assert not np.array_equal(first, generate_walks(GRAPH, s.replace(seed=8)))
    n2v = s.replace(p=0.5, q=2.0)
    np.testing.assert_array_equal(generate_walks(GRAPH, n2v), generate_walks(GRAPH, n2v))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_walks_do_not_depend_on_thread_count():
    # Enough start nodes for several blocks of walks, so threads really split the work.
    rng = np.random.default_rng(0)
    n = 3000
    a, b = rng.integers(0, n, 20000), rng.integers(0, n, 20000)
    keep = a != b
    graph = build_graph(n, a[keep], b[keep], rng.random(keep.sum()).astype(np.float32) + 0.1)
    results = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            results.append(
                (
                    generate_walks(graph, WalkSettings(walks_per_node=2, seed=3)),
                    generate_walks(graph, WalkSettings(walks_per_node=2, seed=3, p=0.5, q=2)),
                )
            )
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_first_order_transition_frequencies_match_weights():
    walks = generate_walks(GRAPH, WalkSettings(walks_per_node=3000, length=10, seed=0))
    counts = transition_counts(walks, 8)
    expected = transition_matrix(GRAPH).toarray()
    from_counts = counts.sum(axis=1)
    for node in range(6):
        empirical = counts[node] / from_counts[node]
        p = expected[node]
        # 5 standard errors of a multinomial share; a uniform sampler misses by far more.
        tolerance = 5 * np.sqrt(p * (1 - p) / from_counts[node]) + 1e-9
        assert (np.abs(empirical - p) <= tolerance).all(), (node, empirical, p)
    # The test can fail: uniform choice would put 1/2 on 0 -> 1, the weights say 1/4.
    assert abs(counts[0, 1] / from_counts[0] - 0.25) < 0.02


def exact_second_order(graph, prev: int, cur: int, p: float, q: float) -> np.ndarray:
    """node2vec's definition: P(x | prev, cur) proportional to w(cur, x) * alpha(prev, x)."""
    dense = graph.toarray().astype(np.float64)
    alpha = np.where(dense[prev] > 0, 1.0, 1.0 / q)
    alpha[prev] = 1.0 / p
    unnormalised = dense[cur] * alpha
    return unnormalised / unnormalised.sum()


@pytest.mark.parametrize(("p", "q"), [(0.5, 2.0), (4.0, 0.25), (0.25, 0.5)])
def test_node2vec_second_order_frequencies_match_definition(p, q):
    walks = generate_walks(GRAPH, WalkSettings(walks_per_node=3000, length=10, p=p, q=q, seed=1))
    triples = np.stack([walks[:, :-2].ravel(), walks[:, 1:-1].ravel(), walks[:, 2:].ravel()], 1)
    checked = 0
    for prev, cur in {(int(x), int(y)) for x, y in triples[:, :2]}:
        nxt = triples[(triples[:, 0] == prev) & (triples[:, 1] == cur), 2]
        if len(nxt) < 2000:
            continue
        empirical = np.bincount(nxt, minlength=8) / len(nxt)
        exact = exact_second_order(GRAPH, prev, cur, p, q)
        tolerance = 5 * np.sqrt(exact * (1 - exact) / len(nxt)) + 1e-9
        assert (np.abs(empirical - exact) <= tolerance).all(), (prev, cur, empirical, exact)
        checked += 1
    assert checked >= 8


def test_node2vec_p_and_q_move_return_and_outward_shares_as_defined():
    """From 1 -> 2 (prev 1): back to 1 is a return, 0 a common neighbour, 3 outward."""

    def shares(p, q):
        walks = generate_walks(
            GRAPH, WalkSettings(walks_per_node=4000, length=10, p=p, q=q, seed=2)
        )
        prev, cur, nxt = walks[:, :-2].ravel(), walks[:, 1:-1].ravel(), walks[:, 2:].ravel()
        mask = (prev == 1) & (cur == 2)
        return np.bincount(nxt[mask], minlength=8) / mask.sum()

    base = shares(1.0, 1.0)
    low_p = shares(0.25, 1.0)  # returning 4x more attractive
    high_q = shares(1.0, 4.0)  # outward 4x less attractive
    # Weights from 2: to 0 = 3, to 1 = 2, to 3 = 5 (total 10).
    assert base[1] == pytest.approx(0.2, abs=0.02)
    assert low_p[1] == pytest.approx(8 / 16, abs=0.02)  # 2*4 / (3 + 8 + 5)
    assert high_q[3] == pytest.approx(1.25 / 6.25, abs=0.02)  # 5/4 / (3 + 2 + 1.25)
    assert low_p[1] > base[1] and high_q[3] < base[3]


def test_progress_is_reported_per_pass():
    calls = []
    generate_walks(GRAPH, WalkSettings(walks_per_node=4), lambda d, t, m: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_visit_counts():
    walks = np.array([[0, 1, 1], [2, 1, 0]], dtype=np.int32)
    np.testing.assert_array_equal(visit_counts(walks, 4), [2, 3, 1, 0])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("walks_per_node", 0),
        ("walks_per_node", 2.5),
        ("walks_per_node", 1_000_000),
        ("length", 1),
        ("length", 100_000),
        ("p", 0),
        ("q", -1.0),
        ("q", float("nan")),
        ("seed", -1),
        ("seed", True),
    ],
)
def test_settings_validation_names_the_field(field, value):
    with pytest.raises(SettingsError, match=field):
        WalkSettings(**{field: value})


def test_a_corpus_above_the_token_cap_is_refused_before_it_is_allocated(monkeypatch):
    import recsys_core.walks.generate as generate

    monkeypatch.setattr(generate, "MAX_WALK_TOKENS", 100)
    with pytest.raises(SettingsError, match="lower walks_per_node or length"):
        generate_walks(GRAPH, WalkSettings(walks_per_node=10, length=10))


def test_settings_key_changes_with_fields():
    assert WalkSettings().key("x") == WalkSettings().key("x")
    assert WalkSettings().key("x") != WalkSettings(q=2).key("x")
    assert WalkSettings().first_order and not WalkSettings(p=2).first_order


def test_defaults_are_the_methods_walks_and_method_takes_changes():
    # bench.defaults measured that scaling walks up at the same epochs over-trains small
    # graphs (MovieLens-100k); a change of these defaults must come with new figures there.
    assert WalkSettings() == WalkSettings.method()
    method = WalkSettings.method()
    assert (method.walks_per_node, method.length, method.first_order) == (10, 10, True)
    walks = generate_walks(GRAPH, WalkSettings.method(seed=4))
    assert walks.shape == (10 * len(start_nodes(GRAPH)), 10)
    assert WalkSettings.method(p=0.5).p == 0.5 and not WalkSettings.method(p=0.5).first_order
    with pytest.raises(SettingsError, match="walks_per_node"):
        WalkSettings.method(walks_per_node=0)
