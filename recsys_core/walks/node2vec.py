"""node2vec second-order walks (return parameter p, in-out parameter q) by rejection.

node2vec weighs a step cur -> x, having arrived from prev, by w(cur, x) * alpha(x) with
alpha = 1/p if x == prev, 1 if x is a neighbour of prev, 1/q otherwise. Precomputing
those distributions per edge costs sum(degree^2) memory, which is what made the reference
implementation run out of memory. Here everything stored is O(edges) (the first-order
alias tables, row totals and a hash set of the edges): propose x from the first-order weighted distribution and accept it with
probability alpha(x) / M (KnightKing-style rejection sampling).

The envelope is M = max(1, 1/q). When 1/p > M (returning is the most likely move) the
return edge's extra mass w(cur, prev) * (1/p - M) is sampled directly as an "outlier"
block instead of raising M for every proposal: with p=0.5, q=2 that halves the number of
rejected proposals. The result is exact: each x ends up with probability proportional to
w(cur, x) * alpha(x).

"Is x a neighbour of prev" is one lookup in a hash set of the edges (O(edges), 8 bytes a
slot): on the electronics-scale graph it made node2vec walks 1.2x faster than a binary
search in the shorter of the two sorted rows, whose probes are dependent cache misses
when both rows belong to hubs, as they often do on a power-law graph. The weight of the
edge back to prev is carried from the previous step, which assumes a symmetric graph (what
:func:`recsys_core.graph.build_graph` makes).
Walks advance step-major in blocks, as in :mod:`recsys_core.walks.first_order`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from recsys_core.walks._rng import mix64, next_uniform, walk_state
from recsys_core.walks.first_order import BLOCK, draw_position


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


@njit(cache=True)
def build_edge_set(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Open-addressing hash set of the undirected edges, keyed ``min * n + max``.

    Capacity is the power of two at least twice the number of edges (load <= 0.5), so a
    lookup is about one cache miss, against a chain of dependent probes for a binary
    search in a hub's row. 8 bytes per slot: O(edges) memory.
    """
    n = indptr.shape[0] - 1
    n_edges = 0
    for u in range(n):
        for k in range(indptr[u], indptr[u + 1]):
            if indices[k] > u:
                n_edges += 1
    capacity = 16
    while capacity < 2 * n_edges:
        capacity *= 2
    mask = np.uint64(capacity - 1)
    table = np.full(capacity, -1, dtype=np.int64)
    for u in range(n):
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            if v > u:
                code = np.int64(u) * n + v
                slot = mix64(np.uint64(code)) & mask
                while table[slot] >= 0 and table[slot] != code:
                    slot = (slot + np.uint64(1)) & mask
                table[slot] = code
    return table


@njit(cache=True, inline="always")
def has_edge(table: np.ndarray, n: int, u: int, v: int) -> bool:
    """Whether u -- v is in the edge set (u != v)."""
    lo = min(u, v)
    hi = max(u, v)
    code = np.int64(lo) * n + hi
    mask = np.uint64(table.shape[0] - 1)
    slot = mix64(np.uint64(code)) & mask
    while True:
        value = table[slot]
        if value == code:
            return True
        if value < 0:
            return False
        slot = (slot + np.uint64(1)) & mask


@njit(cache=True, inline="always")
def node2vec_try(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    totals: np.ndarray,
    edges: np.ndarray,
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
    elif has_edge(edges, indptr.shape[0] - 1, x, prev):
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
    edges: np.ndarray,
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
                        edges,
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
