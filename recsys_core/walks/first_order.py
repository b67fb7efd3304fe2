"""First-order weighted random walks on CSR arrays (numba).

The next node is drawn in proportion to edge weight with per-row alias tables (Walker /
Vose), built once in O(edges) time and memory: one float64 threshold and one int32 alias
position per edge. A draw is one uniform number: its integer part picks a slot in the row,
its fraction decides between the slot and its alias. On the electronics-scale synthetic
graph (5.3M directed edges) this walked about 2x faster than a binary search over per-row
running sums of the weights, for 0.2 s of table building.

Walks are advanced step-major inside blocks of walks: all walks of a block take step 1,
then step 2, and so on. Each step is a chain of dependent memory reads (row offsets ->
table -> neighbour id), mostly cache misses on a large graph; interleaving independent
walks lets the CPU overlap those misses, which measured 2-3x faster than finishing one walk
before starting the next. Each walk still draws from its own generator, so the result is
the same for any block size or thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from recsys_core.common.alias import fill_alias
from recsys_core.common.rng import next_uniform, walk_state

BLOCK = 512  # walks advanced together; large enough to overlap misses, small enough for L1


@njit(cache=True, parallel=True)
def build_alias_tables(indptr: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row alias tables over the edge arrays.

    Returns ``(threshold, alias)``, both the size of ``data``: a draw landing in slot ``k``
    with fraction ``f`` takes edge ``k`` if ``f < threshold[k]``, else edge ``alias[k]``
    (an absolute position in the same row). Zero-weight edges are never drawn; a row of
    zero total weight draws uniformly.
    """
    n = indptr.shape[0] - 1
    threshold = np.ones(data.shape[0], dtype=np.float64)
    alias = np.empty(data.shape[0], dtype=np.int32)
    for row in prange(n):
        fill_alias(data, indptr[row], indptr[row + 1], threshold, alias)
    return threshold, alias


@njit(cache=True, inline="always")
def draw_position(
    indptr: np.ndarray, threshold: np.ndarray, alias: np.ndarray, node: int, u: float
) -> int:
    """Edge position of a weighted draw from ``node``'s row given uniform ``u``; -1: none."""
    lo = indptr[node]
    size = indptr[node + 1] - lo
    if size == 0:
        return -1
    x = u * size
    slot = int(x)
    if slot >= size:  # u * size rounded up to size
        slot = size - 1
    k = lo + slot
    if x - slot >= threshold[k]:
        k = alias[k]
    return k


@njit(cache=True, parallel=True)
def first_order_pass(
    indptr: np.ndarray,
    indices: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    starts: np.ndarray,
    seed_state: np.uint64,
    first_walk: np.int64,
    out: np.ndarray,
) -> None:
    """One walk from every start node into ``out`` (rows = starts, columns = steps).

    Walk ``i`` of this pass has global index ``first_walk + i``, which alone seeds it.
    A node without edges (impossible on a symmetric graph after the start) repeats.
    """
    n = starts.shape[0]
    length = out.shape[1]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for block in prange(n_blocks):
        b0 = block * BLOCK
        b1 = min(n, b0 + BLOCK)
        states = np.empty(b1 - b0, dtype=np.uint64)
        for i in range(b0, b1):
            states[i - b0] = walk_state(seed_state, first_walk + i)
            out[i, 0] = starts[i]
        for step in range(1, length):
            for i in range(b0, b1):
                node = out[i, step - 1]
                state, u = next_uniform(states[i - b0])
                states[i - b0] = state
                k = draw_position(indptr, threshold, alias, node, u)
                out[i, step] = indices[k] if k >= 0 else node
