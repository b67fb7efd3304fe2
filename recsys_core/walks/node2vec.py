"""node2vec second-order walks (return parameter p, in-out parameter q) by rejection.

node2vec weighs a step cur -> x, having arrived from prev, by w(cur, x) * alpha(x) with
alpha = 1/p if x == prev, 1 if x is a neighbour of prev, 1/q otherwise. Precomputing
those distributions per edge costs sum(degree^2) memory, which is what made the reference
implementation run out of memory. Here everything stored is O(edges) (the first-order
alias tables, row totals and a hash set of the edges): propose x from the first-order
weighted distribution and accept it with probability alpha(x) / M (KnightKing-style
rejection sampling).

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
Walks advance step-major in blocks, as in :mod:`recsys_core.walks.first_order`, and each
rejection sweep over a block runs in stages (see :func:`node2vec_pass`): 1.4x faster than
one whole attempt per walk at a time, for the same walks. With p=0.5, q=2 a walk step
costs about 2.5x a first-order step on the electronics-scale graph (bench/README.md).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from recsys_core.common.rng import mix64, next_uniform, walk_state
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
    step one attempt, and keeps the rejected ones for the next sweep. A sweep runs in
    stages, each one loop over the waiting walks: propose a slot in the current row (or
    the outlier return), resolve the slot's alias, read the neighbour and decide, probe the
    edge set for the walks still undecided. Within a stage the memory reads of different
    walks are independent, so the CPU overlaps their cache misses; one attempt per walk
    from start to finish is a chain of dependent misses behind unpredictable branches,
    which stalls it. A walk consumes only its own random numbers, in the same order either
    way, so its path depends on neither the staging nor the thread count.
    """
    n = starts.shape[0]
    length = out.shape[1]
    n_nodes = indptr.shape[0] - 1
    n_blocks = (n + BLOCK - 1) // BLOCK
    envelope = max(1.0, inv_q)
    has_outlier = inv_p > envelope
    excess = inv_p - envelope  # outlier mass per unit weight of the return edge
    return_alpha = min(inv_p, envelope)
    # Below the smaller of the two non-return alphas a proposal other than prev is accepted
    # without the neighbour test (with p=0.5, q=2: half of them).
    sure = min(1.0, inv_q)
    always = return_alpha >= envelope and sure >= envelope  # p = q = 1: no rejection
    mask = np.uint64(edges.shape[0] - 1)
    for block in prange(n_blocks):
        b0 = block * BLOCK
        b1 = min(n, b0 + BLOCK)
        size = b1 - b0
        states = np.empty(size, dtype=np.uint64)
        weights = np.zeros(size, dtype=np.float64)  # weight of each walk's last edge
        pending = np.empty(size, dtype=np.int64)
        position = np.empty(size, dtype=np.int64)  # proposed edge; -1 return, -2 stay
        fraction = np.empty(size, dtype=np.float64)
        proposal = np.empty(size, dtype=np.int32)
        probe_walk = np.empty(size, dtype=np.int64)
        probe_edge = np.empty(size, dtype=np.int64)
        probe_draw = np.empty(size, dtype=np.float64)
        probe_key = np.empty(size, dtype=np.int64)
        probe_slot = np.empty(size, dtype=np.uint64)
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
                # Stage 1: a slot in the current node's row, or the outlier return.
                for t in range(n_pending):
                    j = pending[t]
                    node = out[b0 + j, step - 1]
                    state, u = next_uniform(states[j])
                    states[j] = state
                    lo = indptr[node]
                    degree = indptr[node + 1] - lo
                    if has_outlier:
                        outlier = weights[j] * excess
                        proposal_mass = totals[node] * envelope
                        r = u * (proposal_mass + outlier)
                        if r < outlier:
                            position[t] = -1
                            continue
                        # (r - outlier) / proposal_mass is uniform on [0, 1): propose with it
                        # (a row of zero weights, never on build_graph's graphs: keep u).
                        if proposal_mass > 0.0:
                            u = (r - outlier) / proposal_mass
                    if degree == 0:
                        position[t] = -2  # dead end (not on a symmetric graph): stay
                        continue
                    x = u * degree
                    s = int(x)
                    if s >= degree:  # u * degree rounded up to degree
                        s = degree - 1
                    position[t] = lo + s
                    fraction[t] = x - s
                # Stage 2: the slot or its alias (a first-order weighted proposal).
                for t in range(n_pending):
                    k = position[t]
                    if k >= 0:
                        other = alias[k]  # read with threshold[k], not after it
                        if fraction[t] >= threshold[k]:
                            position[t] = other
                # Stage 3: the proposed neighbours.
                for t in range(n_pending):
                    k = position[t]
                    if k >= 0:
                        proposal[t] = indices[k]
                # Stage 4: accept with probability alpha(x) / envelope where the answer is
                # known without the edge set; queue the others for stage 5.
                kept = 0
                probes = 0
                for t in range(n_pending):
                    j = pending[t]
                    i = b0 + j
                    k = position[t]
                    if k == -1:
                        out[i, step] = out[i, step - 2]  # weights[j] is w(cur, prev) already
                        continue
                    if k == -2:
                        out[i, step] = out[i, step - 1]
                        weights[j] = 0.0
                        continue
                    x = proposal[t]
                    if always:
                        out[i, step] = x
                        weights[j] = data[k]
                        continue
                    state, v = next_uniform(states[j])
                    states[j] = state
                    v *= envelope
                    prev = out[i, step - 2]
                    if x == prev:
                        accept = v < return_alpha
                    elif v < sure:
                        accept = True
                    else:
                        key = np.int64(min(x, prev)) * n_nodes + max(x, prev)
                        probe_walk[probes] = j
                        probe_edge[probes] = k
                        probe_draw[probes] = v
                        probe_key[probes] = key
                        probe_slot[probes] = mix64(np.uint64(key)) & mask
                        probes += 1
                        continue
                    if accept:
                        out[i, step] = x
                        weights[j] = data[k]
                    else:
                        pending[kept] = j
                        kept += 1
                # Stage 5: is x a neighbour of prev (alpha 1) or not (alpha 1/q)?
                for t in range(probes):
                    key = probe_key[t]
                    s = probe_slot[t]
                    while True:
                        value = edges[s]
                        if value == key or value < 0:
                            break
                        s = (s + np.uint64(1)) & mask
                    alpha = 1.0 if value == key else inv_q
                    j = probe_walk[t]
                    if probe_draw[t] < alpha:
                        k = probe_edge[t]
                        out[b0 + j, step] = indices[k]
                        weights[j] = data[k]
                    else:
                        pending[kept] = j
                        kept += 1
                n_pending = kept
