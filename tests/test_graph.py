"""Graph building, transition matrix and the readable samples used by the app."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_core.graph import (
    build_graph,
    degree,
    ego_network,
    sample_nodes,
    transition_matrix,
    transition_sample,
)


@pytest.fixture
def small_graph():
    # 0-1 (3), 0-2 (1), 1-2 (2), 2-3 (4), 3-4 (1), 4-5 (0.5), 0-6 (2); product 7 isolated.
    a = np.array([0, 0, 1, 2, 3, 4, 0])
    b = np.array([1, 2, 2, 3, 4, 5, 6])
    w = np.array([3, 1, 2, 4, 1, 0.5, 2], dtype=np.float32)
    return build_graph(8, a, b, w)


def test_build_graph_is_symmetric_typed_and_sorted(small_graph):
    g = small_graph
    assert g.shape == (8, 8)
    assert g.dtype == np.float32
    assert g.indptr.dtype == np.int32 and g.indices.dtype == np.int32
    assert g.has_sorted_indices
    dense = g.toarray()
    np.testing.assert_array_equal(dense, dense.T)
    assert dense[0, 1] == 3 and dense[1, 0] == 3 and dense[5, 4] == 0.5
    assert g.nnz == 14
    assert dense[7].sum() == 0  # isolated product keeps an empty row


def test_build_graph_sums_repeated_pairs_and_keeps_self_pair_once():
    g = build_graph(3, np.array([0, 1, 2]), np.array([1, 0, 2]), np.array([1.0, 2.0, 5.0]))
    dense = g.toarray()
    assert dense[0, 1] == 3 and dense[1, 0] == 3
    assert dense[2, 2] == 5


@pytest.mark.parametrize(
    ("a", "b", "w", "match"),
    [
        ([0, 9], [1, 2], [1.0, 1.0], "0..4"),
        ([0, 1], [1], [1.0, 1.0], "same length"),
        ([0, 1], [1, 2], [1.0, 0.0], "> 0"),
    ],
)
def test_build_graph_rejects_bad_input(a, b, w, match):
    with pytest.raises(ValueError, match=match):
        build_graph(5, np.array(a), np.array(b), np.array(w))


def test_degree(small_graph):
    np.testing.assert_array_equal(degree(small_graph), [3, 2, 3, 2, 2, 1, 1, 0])
    np.testing.assert_allclose(degree(small_graph, weighted=True)[:3], [6, 5, 7])


def test_transition_matrix_rows_sum_to_one_and_isolated_rows_stay_zero(small_graph):
    p = transition_matrix(small_graph)
    sums = np.asarray(p.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[:7], 1.0, rtol=1e-12)
    assert sums[7] == 0
    assert p[0, 1] == pytest.approx(3 / 6)
    assert p[2, 3] == pytest.approx(4 / 7)


def test_sample_nodes_center_first_then_strongest(small_graph):
    nodes = sample_nodes(small_graph, 0, max_nodes=5)
    assert nodes[0] == 0
    assert nodes[1] == 1  # strongest neighbour of 0 (weight 3)
    assert len(nodes) == 5 and len(set(nodes.tolist())) == 5
    assert 3 in nodes  # 2 -> 3 is the strongest second hop (4/7)


def test_transition_sample_rows_sum_to_one(small_graph):
    asins = np.array([f"A{i}" for i in range(8)], dtype=object)
    frame = transition_sample(small_graph, 2, asins, max_nodes=4)
    assert list(frame.index) == list(frame.columns[:-1])
    assert frame.columns[-1] == "rest"
    assert frame.index[0] == "A2"
    assert frame.shape == (4, 5)
    np.testing.assert_allclose(frame.sum(axis=1).to_numpy(), 1.0, rtol=1e-9)
    # Entries are full-row probabilities, not renormalised within the sample.
    full = transition_matrix(small_graph)
    assert frame.loc["A2", "A3"] == pytest.approx(full[2, 3])


def test_transition_sample_isolated_center_is_all_zero(small_graph):
    asins = np.array([f"A{i}" for i in range(8)])
    frame = transition_sample(small_graph, 7, asins)
    assert frame.shape == (1, 2)
    assert frame.to_numpy().sum() == 0


def test_ego_network_edges(small_graph):
    edges = ego_network(small_graph, 0, max_neighbors=2)
    assert list(edges.columns) == ["source", "target", "weight"]
    pairs = {tuple(sorted(x)) for x in edges[["source", "target"]].to_numpy().tolist()}
    # Center 0 with its two strongest neighbours 1 (3) and 6 (2), plus edges among them.
    assert pairs == {(0, 1), (0, 6)}
    assert edges.iloc[0]["source"] == 0 and edges.iloc[0]["weight"] == 3
    edges = ego_network(small_graph, 0, max_neighbors=30)
    pairs = {tuple(sorted(x)) for x in edges[["source", "target"]].to_numpy().tolist()}
    assert pairs == {(0, 1), (0, 2), (0, 6), (1, 2)}
    with pytest.raises(ValueError, match="center"):
        ego_network(small_graph, 99)
