"""Compiled update loops for skip-gram with negative sampling (word2vec.c-style SGD).

Each kernel takes a slice of (center, context) pairs and updates the tables in place with
hand-derived gradients. The slice is cut into one contiguous block per thread and the
blocks run in parallel without locks (Hogwild, as word2vec.c and gensim do): with one
thread the result depends only on the seed.

Negatives are drawn inside the loop from the unigram^0.75 distribution by the alias
method (``skipgram_pairs.NegativeSampler``'s ``accept`` / ``alias`` arrays) with a xorshift64*
generator (:mod:`recsys_core.common.rng`), one stream per thread block, so no negative array
is materialised.
"""

from __future__ import annotations

import numba
import numpy as np

from recsys_core.common.rng import alias_draw, block_state, xorshift_next

MAX_SCORE = 10.0  # scores are clamped to +-10 before the sigmoid


@numba.njit(cache=True, inline="always")
def _sigmoid(f: float) -> float:
    if f > MAX_SCORE:
        f = MAX_SCORE
    elif f < -MAX_SCORE:
        f = -MAX_SCORE
    return 1.0 / (1.0 + np.exp(-f))


@numba.njit(cache=True, inline="always")
def _pair_terms(
    h: np.ndarray,
    w_out: np.ndarray,
    ctx: int,
    negative: int,
    state: np.uint64,
    accept: np.ndarray,
    alias: np.ndarray,
    lr: float,
    neu: np.ndarray,
    track: bool,
) -> tuple[np.uint64, float]:
    """word2vec's update for one (center, context) pair and its negatives.

    The math both kernels share: for the context (label 1) and ``negative`` draws
    (label 0, a draw equal to the context skipped) with ``g = (label - sigmoid(h . u)) * lr``,
    moves each context row ``u += g * h`` and sets ``neu = sum g * u`` (the pre-update u),
    i.e. ``-lr * dL/dh`` for the BCE loss L. Returns the generator state and the summed BCE
    (only when ``track``; logs cost more than the update). Inlined: no call overhead.
    """
    dim = len(h)
    loss = 0.0
    for j in range(dim):
        neu[j] = 0.0
    for k in range(negative + 1):
        if k == 0:
            tgt = ctx
            label = 1.0
        else:
            state = xorshift_next(state)
            tgt = alias_draw(state, accept, alias)
            if tgt == ctx:
                continue
            label = 0.0
        u = w_out[tgt]
        f = np.float32(0.0)
        for j in range(dim):
            f += h[j] * u[j]
        sg = _sigmoid(f)
        g = np.float32((label - sg) * lr)
        if track:
            p = sg if label > 0.5 else 1.0 - sg
            loss -= np.log(max(p, 1e-7))
        for j in range(dim):
            neu[j] += g * u[j]
            u[j] += g * h[j]
    return state, loss


# The two training kernels below stay separate rather than one kernel with a "plain" flag:
# the plain one updates the center row in place with no weights, slot loop or softmax,
# and measured faster that way. What they share is the per-pair math, _pair_terms.


@numba.njit(parallel=True, fastmath=True, cache=True)
def train_plain(
    w_in: np.ndarray,
    w_out: np.ndarray,
    centers: np.ndarray,
    contexts: np.ndarray,
    accept: np.ndarray,
    alias: np.ndarray,
    negative: int,
    lr0: float,
    lr1: float,
    seed: int,
    n_blocks: int,
    loss_every: int,
) -> tuple[float, int]:
    """Plain SGNS on pairs; returns (summed BCE over sampled pairs, number sampled).

    ``lr`` moves linearly from ``lr0`` to ``lr1`` across the slice. The loss is summed
    for every ``loss_every``-th pair only: computing logs for every pair costs more than
    the update itself.
    """
    n = len(centers)
    dim = w_in.shape[1]
    loss_sum = np.zeros(n_blocks, dtype=np.float64)
    loss_cnt = np.zeros(n_blocks, dtype=np.int64)
    size = (n + n_blocks - 1) // n_blocks
    for blk in numba.prange(n_blocks):
        state = block_state(seed, blk)
        neu = np.empty(dim, dtype=np.float32)
        start = blk * size
        stop = min(n, start + size)
        for i in range(start, stop):
            lr = lr0 + (lr1 - lr0) * (i / n)
            hc = w_in[centers[i]]
            track = loss_every > 0 and i % loss_every == 0
            state, loss = _pair_terms(
                hc, w_out, contexts[i], negative, state, accept, alias, lr, neu, track
            )
            if track:
                loss_sum[blk] += loss
                loss_cnt[blk] += negative + 1
            for j in range(dim):
                hc[j] += neu[j]
    return loss_sum.sum(), loss_cnt.sum()


@numba.njit(cache=True, inline="always")
def _slot_weights(logits_row: np.ndarray, slots_row: np.ndarray, out: np.ndarray) -> None:
    """Softmax of ``logits_row`` over the slots that are present (slot >= 0)."""
    m = -1e30
    for s in range(len(slots_row)):
        if slots_row[s] >= 0 and logits_row[s] > m:
            m = logits_row[s]
    total = 0.0
    for s in range(len(slots_row)):
        if slots_row[s] >= 0:
            out[s] = np.exp(logits_row[s] - m)
            total += out[s]
        else:
            out[s] = 0.0
    for s in range(len(slots_row)):
        out[s] /= total


@numba.njit(cache=True, inline="always")
def _combine(table_in: np.ndarray, slots_row: np.ndarray, w: np.ndarray, h: np.ndarray) -> None:
    """``h = sum_s w[s] * table_in[slots_row[s]]`` over present slots."""
    for j in range(len(h)):
        h[j] = 0.0
    for s in range(len(slots_row)):
        r = slots_row[s]
        if r >= 0:
            ws = w[s]
            row = table_in[r]
            for j in range(len(h)):
                h[j] += ws * row[j]


@numba.njit(cache=True, inline="always")
def _step_logits(
    table_in: np.ndarray,
    slots_row: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    neu: np.ndarray,
    factor: float,
    logits_row: np.ndarray,
) -> None:
    """``logits_row[s] += factor * w[s] * (row_s - h) . neu`` (``-factor * lr * dL/da_s``)."""
    he = np.float32(0.0)
    for j in range(len(h)):
        he += h[j] * neu[j]
    for s in range(len(slots_row)):
        r = slots_row[s]
        if r >= 0:
            re = np.float32(0.0)
            row = table_in[r]
            for j in range(len(h)):
                re += row[j] * neu[j]
            logits_row[s] += w[s] * (re - he) * factor


@numba.njit(parallel=True, fastmath=True, cache=True)
def train_side(
    table_in: np.ndarray,
    slots: np.ndarray,
    logits: np.ndarray,
    weight_lr: float,
    normalise_step: bool,
    w_out: np.ndarray,
    centers: np.ndarray,
    contexts: np.ndarray,
    accept: np.ndarray,
    alias: np.ndarray,
    negative: int,
    lr0: float,
    lr1: float,
    seed: int,
    n_blocks: int,
    loss_every: int,
) -> tuple[float, int]:
    """SGNS whose center vector is a weighted average of several embedding rows (EGES).

    ``H_v = sum_s w_vs * table_in[slots[v, s]]`` with ``w_v = softmax(logits[v])`` over the
    present slots (slot >= 0; -1 = left out). With ``e = -lr * dL/dH_v`` (``neu`` below)
    the exact descent steps are ``w_vs * e`` for each row and ``w_vs * (row_s - H_v) . e``
    for each logit (checked against finite differences in ``tests/test_side_info.py``).

    ``normalise_step`` multiplies both by ``1 / sum_s w_vs^2``: the rows then move H_v by
    exactly ``e`` per pair, as a plain skip-gram center would (otherwise averaging over S
    rows shrinks the step about S-fold and the id embedding learns S times slower). The
    logits get the same factor, so rows and logits keep the ratio of the plain gradient
    (the paper's); stepping only the rows faster left the attention ~S-fold behind and the
    learned weights near uniform. ``weight_lr`` multiplies the logit step further
    (0 = fixed logits, an equal-weighted mean).
    """
    n = len(centers)
    dim = table_in.shape[1]
    n_slots = slots.shape[1]
    loss_sum = np.zeros(n_blocks, dtype=np.float64)
    loss_cnt = np.zeros(n_blocks, dtype=np.int64)
    size = (n + n_blocks - 1) // n_blocks
    for blk in numba.prange(n_blocks):
        state = block_state(seed, blk)
        neu = np.empty(dim, dtype=np.float32)
        h = np.empty(dim, dtype=np.float32)
        w = np.empty(n_slots, dtype=np.float32)
        start = blk * size
        stop = min(n, start + size)
        for i in range(start, stop):
            lr = lr0 + (lr1 - lr0) * (i / n)
            c = centers[i]
            track = loss_every > 0 and i % loss_every == 0
            _slot_weights(logits[c], slots[c], w)
            _combine(table_in, slots[c], w, h)
            state, loss = _pair_terms(
                h, w_out, contexts[i], negative, state, accept, alias, lr, neu, track
            )
            if track:
                loss_sum[blk] += loss
                loss_cnt[blk] += negative + 1
            scale = 1.0
            if normalise_step:
                sq = 0.0
                for s in range(n_slots):
                    sq += w[s] * w[s]
                scale = 1.0 / sq
            if weight_lr > 0.0:
                _step_logits(table_in, slots[c], w, h, neu, scale * weight_lr, logits[c])
            for s in range(n_slots):
                r = slots[c, s]
                if r >= 0:
                    step = np.float32(w[s] * scale)
                    row = table_in[r]
                    for j in range(dim):
                        row[j] += step * neu[j]
    return loss_sum.sum(), loss_cnt.sum()


@numba.njit(parallel=True, fastmath=True, cache=True)
def combine_rows(
    table_in: np.ndarray, slots: np.ndarray, weights: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """``out[i] = sum_s weights[i, s] * table_in[slots[rows[i], s]]`` (slots < 0 skipped)."""
    dim = table_in.shape[1]
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for i in numba.prange(len(rows)):
        v = rows[i]
        for s in range(slots.shape[1]):
            r = slots[v, s]
            if r >= 0:
                ws = weights[i, s]
                for j in range(dim):
                    out[i, j] += ws * table_in[r, j]
    return out


@numba.njit(cache=True)
def softmax_rows(logits: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Masked softmax of every row (slots < 0 get weight 0)."""
    out = np.zeros(logits.shape, dtype=np.float32)
    for v in range(logits.shape[0]):
        _slot_weights(logits[v], slots[v], out[v])
    return out
