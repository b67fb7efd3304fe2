"""node2vec second-order walks (return parameter p, in-out parameter q) by rejection.

node2vec weighs a step cur -> x, having arrived from prev, by w(cur, x) * alpha(x) with
alpha = 1/p if x == prev, 1 if x is a neighbour of prev, 1/q otherwise. Precomputing
those distributions per edge costs sum(degree^2) memory, which is what made the reference
implementation run out of memory. Here nothing beyond the first-order alias tables is
stored (O(edges)): propose x from the first-order weighted distribution and accept it with
probability alpha(x) / M (KnightKing-style rejection sampling).

The envelope is M = max(1, 1/q). When 1/p > M (returning is the most likely move) the
return edge's extra mass w(cur, prev) * (1/p - M) is sampled directly as an "outlier"
block instead of raising M for every proposal: with p=0.5, q=2 that halves the number of
rejected proposals. The result is exact: each x ends up with probability proportional to
w(cur, x) * alpha(x).

"Is x a neighbour of prev" is a binary search in the shorter of the two rows, which
needs sorted indices. The weight of the edge back to prev is carried from the previous
step, which assumes a symmetric graph (what :func:`recsys_core.graph.build_graph` makes).
Walks advance step-major in blocks, as in :mod:`recsys_core.walks.first_order`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from recsys_core.walks._rng import next_uniform, walk_state
from recsys_core.walks.first_order import BLOCK, draw_position


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
def row_totals(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Sum of edge weights per row, float64."""
    n = indptr.shape[0] - 1
    totals = np.zeros(n, dtype=np.float64)
    for row in prange(n):
        total = 0.0
        for k in range(indptr[row], indptr[row + 1]):
            total += data[k]
        totals[row] = total
    return totals


@njit(cache=True, inline="always")
def is_edge(indptr: np.ndarray, indices: np.ndarray, u: int, v: int) -> bool:
    """Whether u -- v is an edge: binary search in the shorter of the two sorted rows.

    On a power-law graph ``prev`` is often a hub; searching the short row of the proposed
    node instead keeps the search to a few probes (and warms the row walked next).
    """
    u_lo = indptr[u]
    u_hi = indptr[u + 1]
    v_lo = indptr[v]
    v_hi = indptr[v + 1]
    if u_hi - u_lo <= v_hi - v_lo:
        return find_position(indices, u_lo, u_hi, v) >= 0
    return find_position(indices, v_lo, v_hi, u) >= 0


@njit(cache=True, inline="always")
def node2vec_try(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    totals: np.ndarray,
    node: int,
    prev: int,
    prev_weight: float,
    inv_p: float,
    inv_q: float,
    state: np.uint64,
) -> tuple[int, float, np.uint64]:
    """One rejection-sampling attempt for the step after ``prev -> node``.

    Returns ``(next node or -1 if rejected, weight of the edge taken, state)``.
    ``prev_weight`` is the weight of node -- prev, carried from the previous step (the
    graph is symmetric), which saves searching node's row for prev.
    """
    envelope = max(1.0, inv_q)
    outlier = 0.0
    proposal_mass = 1.0
    state, u = next_uniform(state)
    if inv_p > envelope:
        outlier = prev_weight * (inv_p - envelope)
        proposal_mass = totals[node] * envelope
        r = u * (proposal_mass + outlier)
        if r < outlier:
            return prev, prev_weight, state
        # (r - outlier) / proposal_mass is uniform on [0, 1): reuse it to propose.
        u = (r - outlier) / proposal_mass
    k = draw_position(indptr, threshold, alias, node, u)
    if k < 0:
        return node, 0.0, state  # dead end (not on a symmetric graph): stay
    x = indices[k]
    # Accept with probability alpha(x) / envelope. Every alpha is at least the smallest
    # of the three, so a draw below that accepts without asking which case x is in:
    # with p=0.5, q=2 this skips the neighbour search for half of the proposals.
    return_alpha = min(inv_p, envelope)
    lowest = min(return_alpha, 1.0, inv_q)
    if lowest >= envelope:
        return x, data[k], state
    state, v = next_uniform(state)
    v *= envelope
    if v < lowest:
        return x, data[k], state
    if x == prev:
        alpha = return_alpha
    elif is_edge(indptr, indices, x, prev):
        alpha = 1.0
    else:
        alpha = inv_q
    if v < alpha:
        return x, data[k], state
    return -1, 0.0, state


@njit(cache=True, parallel=True)
def node2vec_pass(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    totals: np.ndarray,
    starts: np.ndarray,
    inv_p: float,
    inv_q: float,
    seed_state: np.uint64,
    first_walk: np.int64,
    out: np.ndarray,
) -> None:
    """One node2vec walk from every start node into ``out``; seeding as in first order.

    Rejection is batched: each sweep gives every walk of the block still waiting for its
    step one attempt, and keeps the rejected ones for the next sweep. Independent walks
    stay interleaved (their cache misses overlap) instead of one walk looping on its own
    rejections. A walk consumes only its own random numbers, in the same order either way.
    """
    n = starts.shape[0]
    length = out.shape[1]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for block in prange(n_blocks):
        b0 = block * BLOCK
        b1 = min(n, b0 + BLOCK)
        size = b1 - b0
        states = np.empty(size, dtype=np.uint64)
        weights = np.zeros(size, dtype=np.float64)  # weight of each walk's last edge
        pending = np.empty(size, dtype=np.int64)
        for j in range(size):
            i = b0 + j
            state = walk_state(seed_state, first_walk + i)
            node = starts[i]
            out[i, 0] = node
            if length > 1:
                # First step: no previous node, plain weighted draw.
                state, u = next_uniform(state)
                k = draw_position(indptr, threshold, alias, node, u)
                if k >= 0:
                    out[i, 1] = indices[k]
                    weights[j] = data[k]
                else:
                    out[i, 1] = node
            states[j] = state
        for step in range(2, length):
            for j in range(size):
                pending[j] = j
            n_pending = size
            while n_pending > 0:
                kept = 0
                for t in range(n_pending):
                    j = pending[t]
                    i = b0 + j
                    nxt, weight, state = node2vec_try(
                        indptr,
                        indices,
                        data,
                        threshold,
                        alias,
                        totals,
                        np.int64(out[i, step - 1]),
                        np.int64(out[i, step - 2]),
                        weights[j],
                        inv_p,
                        inv_q,
                        states[j],
                    )
                    states[j] = state
                    if nxt < 0:
                        pending[kept] = j
                        kept += 1
                    else:
                        out[i, step] = nxt
                        weights[j] = weight
                n_pending = kept
