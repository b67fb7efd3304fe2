"""First-order weighted random walks on CSR arrays (numba).

The next node is drawn in proportion to edge weight. Each row keeps the running sum of its
weights (one float64 array the size of the edge list, built once in O(edges)); a draw is a
uniform number scaled to the row total and a binary search for it in that row.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from recsys_core.walks._rng import next_uniform, walk_state


@njit(cache=True, parallel=True)
def row_cumulative_weights(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Running sum of edge weights within each row, in float64 (row-local for precision)."""
    n = indptr.shape[0] - 1
    cumulative = np.empty(data.shape[0], dtype=np.float64)
    for row in prange(n):
        total = 0.0
        for k in range(indptr[row], indptr[row + 1]):
            total += data[k]
            cumulative[k] = total
    return cumulative


@njit(cache=True, inline="always")
def search_cumulative(cumulative: np.ndarray, lo: np.int64, hi: np.int64, target: float) -> int:
    """First position k in [lo, hi) with ``cumulative[k] > target`` (skips zero weights)."""
    hi = hi - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if cumulative[mid] > target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, inline="always")
def draw_neighbour_position(indptr: np.ndarray, cumulative: np.ndarray, node: int, u: float) -> int:
    """Position in the edge arrays of a weighted draw from ``node``'s row (-1: no edge)."""
    lo = indptr[node]
    hi = indptr[node + 1]
    if hi == lo:
        return -1
    return search_cumulative(cumulative, lo, hi, u * cumulative[hi - 1])


@njit(cache=True, parallel=True)
def first_order_pass(
    indptr: np.ndarray,
    indices: np.ndarray,
    cumulative: np.ndarray,
    starts: np.ndarray,
    seed_state: np.uint64,
    first_walk: np.int64,
    out: np.ndarray,
) -> None:
    """One walk from every start node into ``out`` (rows = starts, columns = steps).

    Walk ``i`` of this pass has global index ``first_walk + i``, which alone seeds it.
    A node without edges (impossible on a symmetric graph after the start) repeats.
    """
    length = out.shape[1]
    for i in prange(starts.shape[0]):
        state = walk_state(seed_state, first_walk + i)
        node = starts[i]
        out[i, 0] = node
        for step in range(1, length):
            state, u = next_uniform(state)
            k = draw_neighbour_position(indptr, cumulative, node, u)
            if k >= 0:
                node = indices[k]
            out[i, step] = node
