"""Skip-gram training pairs from walks, frequent-item subsampling and negative sampling.

Everything here is vectorised over whole chunks of walks: the only Python loop runs over
window offsets (1..window), never over walks or pairs. Shared by the skip-gram models and
by matrix factorisation on walk sequences, so the signatures are a contract.
"""

from __future__ import annotations

import numpy as np

from recsys_core.common.alias import fill_alias

# word2vec.c / gensim's table size, for NegativeSampler(table_size=...).
WORD2VEC_TABLE_SIZE = 100_000_000


def subsample_keep_prob(counts: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of an item, word2vec's subsampling rule.

    ``keep = (sqrt(f / t) + 1) * t / f`` with ``f`` the item's share of all tokens and
    ``t = threshold``, clipped to 1 (the formula of word2vec.c and gensim, so rare items
    are always kept and an item at share ``f`` keeps about ``sqrt(t / f)`` of its tokens).

    Parameters
    ----------
    counts:
        Occurrences per item (any non-negative numbers).
    threshold:
        ``sample`` in gensim; 0 or less disables subsampling (all ones).

    Returns
    -------
    float64 array, same length as ``counts``, values in (0, 1].
    """
    counts = np.asarray(counts, dtype=np.float64)
    keep = np.ones(len(counts), dtype=np.float64)
    total = counts.sum()
    if threshold <= 0 or total <= 0:
        return keep
    share = counts / total
    nz = share > 0
    ratio = threshold / share[nz]
    keep[nz] = np.minimum(1.0, np.sqrt(ratio) + ratio)
    return keep


def skipgram_pairs(
    walks: np.ndarray,
    window: int,
    rng: np.random.Generator,
    keep_prob: np.ndarray | None = None,
    reduced_window: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """All (center, context) skip-gram pairs of a chunk of walks.

    Parameters
    ----------
    walks:
        int (n_walks, length); negative entries are padding and never pair.
    window:
        Maximum distance between center and context.
    rng:
        Source of the subsampling and window draws.
    keep_prob:
        Per-item keep probability (:func:`subsample_keep_prob`). Dropped tokens are
        removed from their walk before windowing, so the window reaches past them, as in
        word2vec and gensim.
    reduced_window:
        word2vec's dynamic window: each center draws its own window uniformly from
        1..window, which weights near contexts more. False: every center uses ``window``.

    Returns
    -------
    (centers, contexts), int32 each, in walk order (all contexts of one center together,
    centers in walk order), so batches touch few distinct rows.
    """
    walks = np.asarray(walks)
    if walks.ndim != 2 or walks.size == 0 or window < 1:
        return np.empty(0, np.int32), np.empty(0, np.int32)
    tokens = walks.astype(np.int32, copy=True)
    if keep_prob is not None:
        valid = tokens >= 0
        draw = rng.random(tokens.shape)
        keep = valid & (draw < keep_prob[np.where(valid, tokens, 0)])
        tokens[~keep] = -1
        if not keep.all():
            # compact each walk: kept tokens first, in order (a stable sort on "dropped")
            order = np.argsort(~keep, axis=1, kind="stable")
            tokens = np.take_along_axis(tokens, order, axis=1)
    n, length = tokens.shape
    if reduced_window:
        reach = rng.integers(1, window + 1, size=tokens.shape, dtype=np.int32)
    else:
        reach = None
    # ctx[w, i, k]: context of center (w, i) at offset -window..-1, 1..window; -1 = none
    ctx = np.full((n, length, 2 * window), -1, dtype=np.int32)
    for d in range(1, min(window, length - 1) + 1):
        left = tokens[:, :-d]  # centers whose context is d to the right
        right = tokens[:, d:]
        # context to the right of center i: tokens[i + d]
        ok_r = (left >= 0) & (right >= 0)
        ok_l = ok_r.copy()
        if reach is not None:
            ok_r &= reach[:, :-d] >= d
            ok_l &= reach[:, d:] >= d
        ctx[:, :-d, window + d - 1] = np.where(ok_r, right, -1)
        ctx[:, d:, window - d] = np.where(ok_l, left, -1)
    centers = np.broadcast_to(tokens[:, :, None], ctx.shape)
    mask = ctx >= 0
    return np.ascontiguousarray(centers[mask]), np.ascontiguousarray(ctx[mask])


def token_counts(walks: np.ndarray, n_items: int) -> np.ndarray:
    """Occurrences of each item in the walks (padding < 0 ignored), int64 (n_items,)."""
    flat = np.asarray(walks).ravel()
    return np.bincount(flat[flat >= 0], minlength=n_items).astype(np.int64)


def _alias_table(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias method: ``accept[i]`` and ``alias[i]`` for O(1) exact draws."""
    accept = np.empty(len(probs), dtype=np.float32)
    alias = np.empty(len(probs), dtype=np.int32)
    fill_alias(np.asarray(probs, dtype=np.float64), 0, len(probs), accept, alias)
    return accept, alias


class NegativeSampler:
    """Draws negatives from the unigram distribution raised to ``power`` (word2vec's 0.75).

    By default draws are exact and O(1) by the alias method: two arrays of one entry per
    item, which stay in cache where word2vec's 1e8-entry table (one random cache miss per
    negative) does not; that miss was half the cost of a skip-gram update. ``table_size``
    switches :meth:`sample` to word2vec's table of that many entries instead.

    Parameters
    ----------
    counts:
        Occurrences per item; items with count 0 are never drawn.
    power:
        Exponent of the unigram distribution.
    table_size:
        None: alias method. An integer: word2vec's table with that many entries, where an
        item gets ``floor(p * size)`` slots (at least one if its count is positive).
    rng:
        Generator used by :meth:`sample`.

    Attributes
    ----------
    probs:
        float64 sampling probability per item.
    accept, alias:
        The alias table (float32, int32), for compiled samplers.
    """

    def __init__(
        self,
        counts: np.ndarray,
        power: float = 0.75,
        table_size: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        counts = np.asarray(counts, dtype=np.float64)
        if counts.sum() <= 0:
            raise ValueError("NegativeSampler needs at least one item with a positive count")
        weights = np.where(counts > 0, counts, 0.0) ** power
        self.probs = weights / weights.sum()
        self.accept, self.alias = _alias_table(self.probs)
        self.table: np.ndarray | None = None
        if table_size is not None:
            table_size = int(max(table_size, np.count_nonzero(counts)))
            slots = np.floor(self.probs * table_size).astype(np.int64)
            slots[(slots == 0) & (counts > 0)] = 1
            self.table = np.repeat(np.arange(len(counts), dtype=np.int32), slots)
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def sample(self, n: int | tuple[int, ...]) -> np.ndarray:
        """``n`` negatives (int32), drawn independently; ``n`` may be a shape."""
        if self.table is not None:
            return self.table[self.rng.integers(0, len(self.table), size=n)]
        u = self.rng.random(size=n) * len(self.accept)
        idx = u.astype(np.int64)
        np.minimum(idx, len(self.accept) - 1, out=idx)
        frac = (u - idx).astype(np.float32)
        return np.where(frac < self.accept[idx], idx, self.alias[idx]).astype(np.int32)
