"""The method's own walk generator, rewritten from its description, as the baseline.

What the public code did (see /work/shared/reference/method.md): a networkx graph from the
weighted train edges, its sparse adjacency matrix, a row-normalised transition matrix,
then a dict {node: {"product": [...], "probability": [...]}} filled one matrix element at a
time, then ``random.choices`` per step in a Python loop: 10 walks x 10 nodes per node.

Kept deliberately close to that recipe (element-wise lookups included) because it is the
reference the benchmark measures against; do not use it for anything else.
"""

from __future__ import annotations

import random
import time

import numpy as np


def build_transition_dict(
    a: np.ndarray, b: np.ndarray, weight: np.ndarray
) -> tuple[list[int], dict[int, dict[str, list]], dict[str, float]]:
    """networkx graph -> adjacency -> transition matrix -> {row: neighbours, probabilities}.

    Returns the node list (row -> product id), the dict keyed by row, and seconds per part.
    """
    import networkx as nx
    import scipy.sparse as sp

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    graph = nx.Graph()
    graph.add_weighted_edges_from(zip(a.tolist(), b.tolist(), weight.tolist(), strict=True))
    nodes = list(graph.nodes)
    seconds["networkx"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    adjacency = nx.to_scipy_sparse_array(graph, nodelist=nodes, weight="weight", format="csr")
    del graph
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    transition = sp.csr_matrix(sp.diags(1.0 / degree) @ adjacency)
    del adjacency
    seconds["transition_matrix"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    transition_dict: dict[int, dict[str, list]] = {}
    rows, cols = transition.nonzero()
    previous = -1
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        if row != previous:
            transition_dict[row] = {"product": [], "probability": []}
            previous = row
        transition_dict[row]["product"].append(col)
        transition_dict[row]["probability"].append(transition[row, col])
    seconds["transition_dict"] = time.perf_counter() - t0
    return nodes, transition_dict, seconds


def random_walks(
    transition_dict: dict[int, dict[str, list]],
    start_rows: list[int],
    walks_per_node: int = 10,
    length: int = 10,
    seed: int = 42,
) -> np.ndarray:
    """``walks_per_node`` walks of ``length`` nodes from each start row (node-major rows)."""
    random.seed(seed)
    walks = np.zeros((len(start_rows) * walks_per_node, length), dtype=np.int64)
    for i, start in enumerate(start_rows):
        for w in range(walks_per_node):
            node = start
            row = walks[i * walks_per_node + w]
            for step in range(length):
                row[step] = node
                entry = transition_dict[node]
                node = random.choices(entry["product"], weights=entry["probability"], k=1)[0]
    return walks
