"""Compiled SGD loop for matrix factorisation with bias (BCE, sampled negatives).

One call trains a slice of positive pairs ``(a[i], b[i])``: each positive brings
``negative`` pairs ``(a[i], random)`` drawn inside the loop by the alias method (uniform
when ``accept`` is all ones), so no batch or negative array is materialised. The score is
``dot(w_in[a], w_out[t]) + bias[a] + bias[t] + g`` and the gradient of binary
cross-entropy with respect to it is ``sigmoid(score) - label``; every term moves the rows
it touches by hand-derived gradients (word2vec.c-style SGD). With one shared table the
caller passes the same array as ``w_in`` and ``w_out``.

The slice is cut into one contiguous block per thread and the blocks run in parallel
without locks (Hogwild, as word2vec.c). The global bias is the one scalar every pair
touches: each block moves its own copy and the caller averages the blocks' moves, so
threads neither fight over one cache line nor add up their steps.

This kernel stays apart from the skip-gram kernels (:mod:`sgns_kernels`) although its
loop has their shape: its biases, L2 decay and shared-table case would put branches in
the innermost loop of the fastest path, the plain skip-gram's. The epoch, schedule and
event logic around it is the shared :class:`~recsys_core.models.base.TrainLoop`.
"""

from __future__ import annotations

import numba
import numpy as np

from recsys_core.common.rng import alias_draw, block_state, xorshift_next
from recsys_core.models.sgns_kernels import MAX_SCORE


@numba.njit(cache=True, inline="always")
def _pair_terms(
    hc: np.ndarray,
    w_out: np.ndarray,
    bias: np.ndarray,
    g: float,
    c: int,
    ctx: int,
    negative: int,
    state: np.uint64,
    accept: np.ndarray,
    alias: np.ndarray,
    lr: float,
    decay: float,
    use_bias: bool,
    neu: np.ndarray,
    track: bool,
) -> tuple[np.uint64, float, int, float, float]:
    """The terms of one positive (c, ctx) and its negatives; moves context rows and biases.

    Sets ``neu`` to the center row's summed step and returns (generator state, summed BCE
    when ``track``, terms used, the center's bias move, the block's global bias after).
    """
    dim = len(hc)
    loss = 0.0
    for j in range(dim):
        neu[j] = 0.0
    bc = np.float32(0.0)  # the center's bias move, applied after its terms
    used = 0
    for k in range(negative + 1):
        if k == 0:
            tgt = ctx
            label = np.float32(1.0)
        else:
            state = xorshift_next(state)
            tgt = alias_draw(state, accept, alias)
            if tgt == ctx:
                continue
            label = np.float32(0.0)
        used += 1
        u = w_out[tgt]
        f = np.float32(0.0)
        for j in range(dim):
            f += hc[j] * u[j]
        if use_bias:
            f += bias[c] + bias[tgt] + g
        if f > MAX_SCORE:
            f = MAX_SCORE
        elif f < -MAX_SCORE:
            f = -MAX_SCORE
        s = np.float32(1.0 / (1.0 + np.exp(-f)))
        step = (label - s) * lr
        if track:
            p = s if label > 0.5 else 1.0 - s
            loss -= np.log(max(p, 1e-7))
        for j in range(dim):
            neu[j] += step * u[j]
            u[j] = u[j] * decay + step * hc[j]
        if use_bias:
            bias[tgt] = bias[tgt] * decay + step
            bc += step
            g += step
    return state, loss, used, bc, g


@numba.njit(parallel=True, fastmath=True, cache=True)
def train_mf(
    w_in: np.ndarray,
    w_out: np.ndarray,
    bias: np.ndarray,
    global_bias: float,
    a: np.ndarray,
    b: np.ndarray,
    accept: np.ndarray,
    alias: np.ndarray,
    negative: int,
    lr0: float,
    lr1: float,
    l2: float,
    use_bias: bool,
    seed: int,
    n_blocks: int,
    loss_every: int,
) -> tuple[float, int, float]:
    """SGD over one slice; returns (summed BCE of sampled pairs, their count, bias move).

    ``lr`` moves linearly from ``lr0`` to ``lr1`` across the slice. ``l2`` is the weight
    of ``|row|^2`` per use of a row (the gradient ``2 * l2 * row`` shrinks it), as the
    PyTorch loss penalises every row of a batch. The third result is the mean over blocks
    of each block's move of the global bias, to add to ``global_bias``.
    """
    n = len(a)
    dim = w_in.shape[1]
    loss_sum = np.zeros(n_blocks, dtype=np.float64)
    loss_cnt = np.zeros(n_blocks, dtype=np.int64)
    g_move = np.zeros(n_blocks, dtype=np.float64)
    size = (n + n_blocks - 1) // n_blocks
    for blk in numba.prange(n_blocks):
        state = block_state(seed, blk)
        neu = np.empty(dim, dtype=np.float32)
        g = np.float32(global_bias)
        start = blk * size
        stop = min(n, start + size)
        for i in range(start, stop):
            lr = np.float32(lr0 + (lr1 - lr0) * (i / n))
            decay = np.float32(1.0 - 2.0 * l2 * lr)
            c = a[i]
            hc = w_in[c]
            track = loss_every > 0 and i % loss_every == 0
            state, loss, used, bc, g = _pair_terms(
                hc, w_out, bias, g, c, b[i], negative, state, accept, alias, lr, decay,
                use_bias, neu, track,
            )  # fmt: skip
            if track:
                loss_sum[blk] += loss
                loss_cnt[blk] += used
            # the center was used once per term: its L2 shrink compounds that often
            shrink = decay**used
            for j in range(dim):
                hc[j] = hc[j] * shrink + neu[j]
            if use_bias:
                bias[c] = bias[c] * shrink + bc
        g_move[blk] = g - np.float32(global_bias)
    return loss_sum.sum(), loss_cnt.sum(), g_move.mean()
