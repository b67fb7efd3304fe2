"""Weighted product graph: train pairs -> symmetric CSR, transition matrix, readable samples.

The graph is undirected, so it is stored as a symmetric CSR matrix (each pair appears as
(a, b) and (b, a)) with float32 weights, sorted column indices and int32 index arrays when
they fit. Sorted indices make the matrix canonical: the same pairs give the same arrays,
so the walks' per-row alias tables, and with them the walks of a seed, do not depend on
the order the pairs came in. (node2vec's "is x a neighbour of y" is a lookup in a hash
set of the edges, :func:`recsys_core.walks.node2vec.build_edge_set`, not a search in y's
row.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

INT32_MAX = np.iinfo(np.int32).max


def build_graph(n_products: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> sp.csr_matrix:
    """Symmetric weighted adjacency matrix of the train pairs.

    Parameters
    ----------
    n_products:
        Number of products; the matrix is ``n_products x n_products`` so product ids stay
        row numbers even for products without a train edge (their rows are empty).
    a, b:
        Product ids of each unordered pair (train pairs only: the caller splits first).
    weight:
        Positive weight of each pair.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32 data, sorted indices, no duplicates, int32 ``indptr``/``indices`` when
        they fit. A pair given twice has its weights summed; a self-pair is kept once.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    weight = np.asarray(weight, dtype=np.float32)
    if not (a.shape == b.shape == weight.shape and a.ndim == 1):
        raise ValueError(
            f"a, b and weight must be 1-D arrays of the same length, got shapes "
            f"{a.shape}, {b.shape}, {weight.shape}"
        )
    if n_products < 0:
        raise ValueError(f"n_products must be >= 0, got {n_products}")
    if a.size:
        lo = min(int(a.min()), int(b.min()))
        hi = max(int(a.max()), int(b.max()))
        if lo < 0 or hi >= n_products:
            raise ValueError(f"product ids must lie in 0..{n_products - 1}, got ids in {lo}..{hi}")
        if not np.all(np.isfinite(weight)) or float(weight.min()) <= 0:
            raise ValueError("pair weights must be finite and > 0")

    off_diagonal = a != b
    index_type = np.int32 if max(n_products, 2 * a.size) <= INT32_MAX else np.int64
    rows = np.concatenate([a, b[off_diagonal]]).astype(index_type, copy=False)
    cols = np.concatenate([b, a[off_diagonal]]).astype(index_type, copy=False)
    data = np.concatenate([weight, weight[off_diagonal]])
    graph = sp.coo_matrix((data, (rows, cols)), shape=(n_products, n_products)).tocsr()
    graph.sum_duplicates()  # also sorts indices
    graph.sort_indices()
    if graph.nnz <= INT32_MAX and n_products <= INT32_MAX:
        graph.indptr = graph.indptr.astype(np.int32, copy=False)
        graph.indices = graph.indices.astype(np.int32, copy=False)
    graph.data = graph.data.astype(np.float32, copy=False)
    return graph


def degree(graph: sp.csr_matrix, weighted: bool = False) -> np.ndarray:
    """Per-product degree: number of neighbours (int64), or sum of edge weights (float64)."""
    if weighted:
        return np.asarray(graph.sum(axis=1), dtype=np.float64).ravel()
    return np.diff(graph.indptr).astype(np.int64)


def transition_matrix(graph: sp.csr_matrix) -> sp.csr_matrix:
    """Row-stochastic matrix: each row of ``graph`` divided by its sum (float64).

    Rows of products without an edge stay all zero rather than becoming NaN.
    """
    row_sum = degree(graph, weighted=True)
    inverse = np.zeros_like(row_sum)
    np.divide(1.0, row_sum, out=inverse, where=row_sum > 0)
    data = graph.data.astype(np.float64) * np.repeat(inverse, np.diff(graph.indptr))
    return sp.csr_matrix((data, graph.indices.copy(), graph.indptr.copy()), shape=graph.shape)


def _strongest_neighbours(graph: sp.csr_matrix, node: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours of ``node`` and their weights, strongest first (ties by id, stable)."""
    start, end = graph.indptr[node], graph.indptr[node + 1]
    neighbours = graph.indices[start:end]
    weights = graph.data[start:end]
    order = np.argsort(-weights, kind="stable")
    return neighbours[order].astype(np.int64), weights[order]


def _check_node(graph: sp.csr_matrix, node: int, name: str) -> int:
    node = int(node)
    if not 0 <= node < graph.shape[0]:
        raise ValueError(f"{name} must be a product id in 0..{graph.shape[0] - 1}, got {node}")
    return node


def sample_nodes(graph: sp.csr_matrix, center: int, max_nodes: int = 15) -> np.ndarray:
    """The center, its strongest neighbours, then their strongest neighbours.

    About half of the slots go to the center's own neighbours; the rest go to the
    second-hop products with the highest transition probability from a first-hop one.
    Slots left over (few second-hop products) go to further first-hop neighbours, then to
    products further out, ranked the same way.
    """
    center = _check_node(graph, center, "center")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be >= 1, got {max_nodes}")
    first, _ = _strongest_neighbours(graph, center)
    first = first[first != center].tolist()
    n_first = min(len(first), max(1, (max_nodes - 1) // 2))
    chosen = [center, *first[:n_first]]
    taken = set(chosen)

    def expand(frontier: list[int]) -> None:
        # Rank candidates by P(frontier node -> candidate), the walk's own view.
        candidates: list[tuple[float, int, int]] = []
        for rank, node in enumerate(frontier):
            neighbours, weights = _strongest_neighbours(graph, node)
            total = float(weights.sum())
            for other, w in zip(neighbours.tolist(), weights.tolist(), strict=True):
                if other not in taken:
                    candidates.append((-w / total, rank, other))
        candidates.sort()
        for _, _, other in candidates:
            if len(chosen) >= max_nodes:
                break
            if other not in taken:
                chosen.append(other)
                taken.add(other)

    expand(chosen[1:])
    for node in first[n_first:]:
        if len(chosen) >= max_nodes:
            break
        if node not in taken:
            chosen.append(node)
            taken.add(node)
    while len(chosen) < max_nodes:
        before = len(chosen)
        expand(chosen[1:])
        if len(chosen) == before:
            break
    return np.asarray(chosen, dtype=np.int64)


def transition_sample(
    graph: sp.csr_matrix, center: int, asins: np.ndarray, max_nodes: int = 15
) -> pd.DataFrame:
    """A small readable piece of the transition matrix around one product.

    Parameters
    ----------
    graph:
        Symmetric weighted graph from :func:`build_graph`.
    center:
        Product id to look around.
    asins:
        ASIN of every product (``dataset.asins``); labels rows and columns.
    max_nodes:
        Size of the sample (center included).

    Returns
    -------
    pandas.DataFrame
        Square matrix over the sampled products (center first), index and columns
        labelled by ASIN. Each row holds that product's full-row transition
        probabilities to the sampled columns, plus a column ``"rest"`` with the
        probability of stepping outside the sample, so every row sums to 1 (a row of
        a product with no edge is all zero).
    """
    asins = np.asarray(asins)
    if len(asins) != graph.shape[0]:
        raise ValueError(f"asins has {len(asins)} entries but the graph has {graph.shape[0]}")
    nodes = sample_nodes(graph, center, max_nodes)
    # Only the sampled rows are normalised: the full transition matrix is O(edges).
    rows = transition_matrix(graph[nodes])
    probs = rows[:, nodes].toarray()
    has_edges = np.diff(rows.indptr) > 0
    rest = np.where(has_edges, np.clip(1.0 - probs.sum(axis=1), 0.0, None), 0.0)
    labels = [str(x) for x in asins[nodes]]
    frame = pd.DataFrame(probs, index=labels, columns=labels)
    frame["rest"] = rest
    frame.index.name = "from"
    return frame


def ego_network(graph: sp.csr_matrix, center: int, max_neighbors: int = 30) -> pd.DataFrame:
    """Edges around one product, for the ego-network plot.

    Keeps the center's ``max_neighbors`` strongest neighbours and returns every edge among
    the center and those neighbours (the induced subgraph), each undirected edge once.

    Returns
    -------
    pandas.DataFrame
        Columns ``source``, ``target`` (int64 product ids) and ``weight`` (float32);
        edges from the center first, then strongest first.
    """
    center = _check_node(graph, center, "center")
    if max_neighbors < 0:
        raise ValueError(f"max_neighbors must be >= 0, got {max_neighbors}")
    neighbours, _ = _strongest_neighbours(graph, center)
    neighbours = neighbours[neighbours != center][:max_neighbors]
    nodes = np.concatenate([[center], neighbours]).astype(np.int64)
    sub = sp.triu(graph[nodes][:, nodes], k=1).tocoo()
    frame = pd.DataFrame(
        {
            "source": nodes[sub.row],
            "target": nodes[sub.col],
            "weight": sub.data.astype(np.float32),
        }
    )
    from_center = (frame["source"] == center).to_numpy()
    order = np.lexsort((-frame["weight"].to_numpy(), ~from_center))
    return frame.iloc[order].reset_index(drop=True)
