"""node2vec second-order walks (return parameter p, in-out parameter q) by rejection.

node2vec weighs a step cur -> x, having arrived from prev, by w(cur, x) * alpha(x) with
alpha = 1/p if x == prev, 1 if x is a neighbour of prev, 1/q otherwise. Precomputing
those distributions per edge costs sum(degree^2) memory, which is what made the reference
implementation run out of memory. Here nothing but the first-order running sums is
stored (O(edges)): propose x from the first-order weighted distribution and accept it with
probability alpha(x) / M (KnightKing-style rejection sampling).

The envelope is M = max(1, 1/q). When 1/p > M (returning is the most likely move) the
return edge's extra mass w(cur, prev) * (1/p - M) is sampled directly as an "outlier"
block instead of raising M for every proposal: with p=0.5, q=2 that halves the number of
rejected proposals. The result is exact: each x ends up with probability proportional to
w(cur, x) * alpha(x).

"Is x a neighbour of prev" is a binary search in prev's row, which needs sorted indices.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from recsys_core.walks._rng import next_uniform, walk_state
from recsys_core.walks.first_order import draw_neighbour_position, search_cumulative


@njit(cache=True, inline="always")
def find_position(indices: np.ndarray, lo: np.int64, hi: np.int64, target: int) -> int:
    """Position of ``target`` in the sorted slice ``indices[lo:hi]``, or -1."""
    while lo < hi:
        mid = (lo + hi) >> 1
        value = indices[mid]
        if value < target:
            lo = mid + 1
        elif value > target:
            hi = mid
        else:
            return mid
    return -1


@njit(cache=True, parallel=True)
def node2vec_pass(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    cumulative: np.ndarray,
    starts: np.ndarray,
    inv_p: float,
    inv_q: float,
    seed_state: np.uint64,
    first_walk: np.int64,
    out: np.ndarray,
) -> None:
    """One node2vec walk from every start node into ``out``; seeding as in first order."""
    length = out.shape[1]
    envelope = max(1.0, inv_q)
    return_accept = min(inv_p, envelope) / envelope
    neighbour_accept = 1.0 / envelope
    outward_accept = inv_q / envelope
    for i in prange(starts.shape[0]):
        state = walk_state(seed_state, first_walk + i)
        node = starts[i]
        out[i, 0] = node
        prev = -1
        for step in range(1, length):
            lo = indptr[node]
            hi = indptr[node + 1]
            if hi == lo:
                out[i, step] = node  # dead end (not on a symmetric graph): stay
                continue
            if prev < 0:
                # First step has no previous node: plain weighted draw.
                state, u = next_uniform(state)
                nxt = indices[draw_neighbour_position(indptr, cumulative, node, u)]
            else:
                total = cumulative[hi - 1]
                outlier = 0.0
                if inv_p > envelope:
                    k = find_position(indices, lo, hi, prev)
                    if k >= 0:
                        outlier = data[k] * (inv_p - envelope)
                prev_lo = indptr[prev]
                prev_hi = indptr[prev + 1]
                while True:
                    state, u = next_uniform(state)
                    r = u * (total * envelope + outlier)
                    if r < outlier:
                        nxt = prev
                        break
                    # (r - outlier) / envelope is uniform on [0, total): reuse it to propose.
                    target = (r - outlier) / envelope
                    x = indices[search_cumulative(cumulative, lo, hi, target)]
                    if x == prev:
                        accept = return_accept
                    elif find_position(indices, prev_lo, prev_hi, x) >= 0:
                        accept = neighbour_accept
                    else:
                        accept = outward_accept
                    if accept >= 1.0:
                        nxt = x
                        break
                    state, u = next_uniform(state)
                    if u < accept:
                        nxt = x
                        break
            prev = node
            node = nxt
            out[i, step] = node
