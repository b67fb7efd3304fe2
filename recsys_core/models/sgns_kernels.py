"""Compiled update loops for skip-gram with negative sampling (word2vec.c-style SGD).

Each training kernel takes one block of (center, context) pairs and updates the tables
in place with hand-derived gradients, on one thread with the GIL released;
:class:`recsys_core.models.hogwild.HogwildPool` runs blocks on several threads at once
without locks (Hogwild, as word2vec.c and gensim do). A block's result depends only on
its seed and the tables it starts from.

Negatives are drawn inside the loop from the unigram^0.75 distribution by the alias
method (``skipgram_pairs.NegativeSampler``'s ``accept`` / ``alias`` arrays) with a xorshift64*
generator (:mod:`recsys_core.common.rng`), one stream per block, so no negative array
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
def _scratch(dim: int, negative: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-block work arrays: ``neu`` (dim), negatives, targets and scores of one pair."""
    neu = np.empty(dim, dtype=np.float32)
    negs = np.empty(negative, dtype=np.int64)
    targets = np.empty(negative + 1, dtype=np.int64)
    scores = np.empty(negative + 1, dtype=np.float32)
    return neu, negs, targets, scores


@numba.njit(cache=True, inline="always")
def _negatives_for(
    i: int,
    centers: np.ndarray,
    shared: bool,
    state: np.uint64,
    accept: np.ndarray,
    alias: np.ndarray,
    negs: np.ndarray,
) -> np.uint64:
    """Draw pair ``i``'s negatives into ``negs`` (kept for a center's later pairs when
    ``shared``); returns the generator state."""
    if shared and i > 0 and centers[i] == centers[i - 1]:
        return state
    for k in range(len(negs)):
        state = xorshift_next(state)
        negs[k] = alias_draw(state, accept, alias)
    return state


@numba.njit(cache=True, inline="always")
def _pair_terms(
    h: np.ndarray,
    w_out: np.ndarray,
    ctx: int,
    negs: np.ndarray,
    lr: float,
    neu: np.ndarray,
    targets: np.ndarray,
    scores: np.ndarray,
    track: bool,
) -> float:
    """word2vec's update for one (center, context) pair and the negatives in ``negs``.

    The math both kernels share: for the context (label 1) and each negative (label 0; one
    equal to the context is skipped) with ``g = (label - sigmoid(h . u)) * lr``, moves each
    output row ``u += g * h`` and sets ``neu = sum g * u`` (the pre-update u), i.e.
    ``-lr * dL/dh`` for the BCE loss L. Returns the summed BCE (only when ``track``; logs
    cost more than the update). Inlined: no call overhead.

    Two passes, all scores first and then all updates, where word2vec.c scores and updates
    one row at a time. The rows of a large catalog are nowhere near cache; scored in one
    pass, their independent loads overlap their cache misses instead of waiting for each
    in turn (1.7x faster at 200k products, bench/README.md). The result is word2vec's
    except when a negative is drawn twice for one pair: the second copy is scored against
    the row before the first copy's update.
    """
    dim = len(h)
    targets[0] = ctx
    n_t = 1
    for k in range(len(negs)):
        if negs[k] != ctx:
            targets[n_t] = negs[k]
            n_t += 1
    for t in range(n_t):
        u = w_out[targets[t]]
        f = np.float32(0.0)
        for j in range(dim):
            f += h[j] * u[j]
        scores[t] = f
    for j in range(dim):
        neu[j] = 0.0
    loss = 0.0
    for t in range(n_t):
        sg = _sigmoid(scores[t])
        label = 1.0 if t == 0 else 0.0
        g = np.float32((label - sg) * lr)
        if track:
            p = sg if t == 0 else 1.0 - sg
            loss -= np.log(max(p, 1e-7))
        u = w_out[targets[t]]
        for j in range(dim):
            neu[j] += g * u[j]
            u[j] += g * h[j]
    return loss


# The two training kernels below stay separate rather than one kernel with a "plain" flag:
# the plain one updates the center row in place with no weights, slot loop or softmax,
# and measured faster that way. What they share is the per-pair math, _pair_terms.
#
# Both train one block of pairs on one thread and release the GIL: HogwildPool runs them
# on several threads at once, lock-free (Hogwild, as word2vec.c and gensim).


@numba.njit(nogil=True, fastmath=True, cache=True)
def train_plain(
    w_in: np.ndarray,
    w_out: np.ndarray,
    centers: np.ndarray,
    contexts: np.ndarray,
    accept: np.ndarray,
    alias: np.ndarray,
    negative: int,
    shared: bool,
    lr0: float,
    lr1: float,
    seed: int,
    loss_every: int,
) -> tuple[float, int]:
    """Plain SGNS on a block of pairs; returns (summed BCE over sampled pairs, terms).

    ``lr`` moves linearly from ``lr0`` to ``lr1`` across the block. With ``shared`` the
    pairs of one center occurrence (consecutive equal centers, as ``skipgram_pairs``
    orders them) share one draw of negatives; otherwise every pair draws its own. The
    loss is summed for every ``loss_every``-th pair only: computing logs for every pair
    costs more than the update itself.
    """
    n = len(centers)
    dim = w_in.shape[1]
    state = block_state(seed, 0)
    neu, negs, targets, scores = _scratch(dim, negative)
    loss_sum = 0.0
    loss_cnt = 0
    for i in range(n):
        lr = lr0 + (lr1 - lr0) * (i / n)
        c = centers[i]
        state = _negatives_for(i, centers, shared, state, accept, alias, negs)
        hc = w_in[c]
        track = loss_every > 0 and i % loss_every == 0
        loss = _pair_terms(hc, w_out, contexts[i], negs, lr, neu, targets, scores, track)
        if track:
            loss_sum += loss
            loss_cnt += negative + 1
        for j in range(dim):
            hc[j] += neu[j]
    return loss_sum, loss_cnt


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


@numba.njit(nogil=True, fastmath=True, cache=True)
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
    shared: bool,
    lr0: float,
    lr1: float,
    seed: int,
    loss_every: int,
) -> tuple[float, int]:
    """SGNS on a block of pairs whose center vector is a weighted sum of rows (EGES).

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
    state = block_state(seed, 0)
    neu, negs, targets, scores = _scratch(dim, negative)
    h = np.empty(dim, dtype=np.float32)
    w = np.empty(n_slots, dtype=np.float32)
    loss_sum = 0.0
    loss_cnt = 0
    for i in range(n):
        lr = lr0 + (lr1 - lr0) * (i / n)
        c = centers[i]
        state = _negatives_for(i, centers, shared, state, accept, alias, negs)
        track = loss_every > 0 and i % loss_every == 0
        _slot_weights(logits[c], slots[c], w)
        _combine(table_in, slots[c], w, h)
        loss = _pair_terms(h, w_out, contexts[i], negs, lr, neu, targets, scores, track)
        if track:
            loss_sum += loss
            loss_cnt += negative + 1
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
    return loss_sum, loss_cnt


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
