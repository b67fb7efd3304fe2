"""Compiled draws of the synthetic catalog's forward links, deduplicated in a hash table.

Large catalogs (books: 26.5M pairs) draw many times the pairs they keep: partners are
drawn by popularity ** 1.7 within a line, so most draws repeat a pair. Sorting and
merging tens of millions of int64 codes per top-up round cost minutes; here each draw is
an O(1) alias draw and one probe of an open-addressing table keyed by the unordered pair,
whose spare high bits record which of the pair's six entries (direction x relationship)
exist. The draws follow the same link model as :class:`~recsys_core.data.synthetic._LinkModel`
(record by list length, relationship, target line, partner by weight within the line or
the leaf) with a splitmix64 stream instead of numpy's generator.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from recsys_core.common.alias import fill_alias
from recsys_core.common.rng import GOLDEN, next_uniform

EMPTY = np.int64(-1)
CODE_BITS = 50  # pair codes lo * n + hi < n ** 2 <= 4e14 < 2 ** 49
CODE_MASK = np.int64((1 << CODE_BITS) - 1)
AB, AV = 0, 1  # the generator's codes (synthetic.AB / AV)
MAX_LOAD = 0.7  # the table grows past this share of filled slots


@njit(cache=True)
def segment_alias(weights: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One alias table per segment ``starts[g]:starts[g + 1]`` of ``weights``."""
    threshold = np.empty(len(weights), dtype=np.float64)
    alias = np.empty(len(weights), dtype=np.int64)
    for g in range(len(starts) - 1):
        fill_alias(weights, starts[g], starts[g + 1], threshold, alias)
    return threshold, alias


@njit(cache=True, inline="always")
def _pick(u: float, lo: int, hi: int, threshold: np.ndarray, alias: np.ndarray) -> int:
    """Position in ``lo:hi`` for the uniform ``u``: its integer part picks the slot, the
    fraction decides between the slot and its alias (32+ bits left for segments < 2M)."""
    x = u * (hi - lo)
    k = int(x)
    if k >= hi - lo:
        k = hi - lo - 1
    k += lo
    if x - (k - lo) >= threshold[k]:
        return alias[k]
    return k


@njit(cache=True, inline="always")
def _slot(code: np.int64, shift: np.uint64) -> np.int64:
    return np.int64((np.uint64(code) * GOLDEN) >> shift)


@njit(cache=True, inline="always")
def _add(table: np.ndarray, shift: np.uint64, n: int, src: int, rel: int, dst: int) -> int:
    """Record entry (src, rel, dst): 2 if its pair is new, 1 if only the entry is, else 0."""
    lo = min(src, dst)
    hi = max(src, dst)
    code = np.int64(lo) * n + hi
    bit = np.int64(1) << np.int64(CODE_BITS + 3 * (src != lo) + rel)
    mask = len(table) - 1
    h = _slot(code, shift)
    while True:
        v = table[h]
        if v == EMPTY:
            table[h] = code | bit
            return 2
        if (v & CODE_MASK) == code:
            if v & bit:
                return 0
            table[h] = v | bit
            return 1
        h = (h + 1) & mask


@njit(cache=True)
def add_entries(table: np.ndarray, shift: np.uint64, n: int, codes: np.ndarray) -> int:
    """Record entry codes ``(src * 3 + rel) * n + dst``; returns how many pairs were new."""
    new_pairs = 0
    for c in codes:
        rest = c // n
        if _add(table, shift, n, rest // 3, rest % 3, c % n) == 2:
            new_pairs += 1
    return new_pairs


@njit(cache=True)
def rehash(table: np.ndarray, shift: np.uint64, bigger: np.ndarray, new_shift: np.uint64) -> None:
    """Move every slot of ``table`` into the empty, larger ``bigger``."""
    mask = len(bigger) - 1
    for v in table:
        if v == EMPTY:
            continue
        h = _slot(v & CODE_MASK, new_shift)
        while bigger[h] != EMPTY:
            h = (h + 1) & mask
        bigger[h] = v


@njit(cache=True)
def draw_forward(
    state: np.ndarray,
    table: np.ndarray,
    shift: np.uint64,
    n: int,
    rec: tuple,
    line_of: np.ndarray,
    line_leaf: np.ndarray,
    complements: tuple,
    by_line: tuple,
    by_leaf: tuple,
    shares: np.ndarray,
    out: np.ndarray,
    max_draws: int,
    max_new_pairs: int,
) -> tuple[int, int, int]:
    """Draw forward entries until ``max_draws`` draws, ``max_new_pairs`` new pairs or a full
    ``out``, whichever comes first; every new entry's code goes to ``out``.

    ``rec``, ``by_line`` and ``by_leaf`` are (starts, items, threshold, alias) alias
    samplers (``rec`` one segment, the others one per line / leaf); ``complements`` is the
    line map (offsets, targets); ``shares`` is (also_viewed share, leaf views among views,
    same-line buys among buys). ``state`` (one uint64) carries the stream across calls.
    Returns (draws, new pairs, entries written).
    """
    rec_starts, rec_items, rec_thr, rec_alias = rec
    line_starts, line_items, line_thr, line_alias = by_line
    leaf_starts, leaf_items, leaf_thr, leaf_alias = by_leaf
    comp_off, comp_targets = complements
    av_share, leaf_view, same_line_buy = shares[0], shares[1], shares[2]
    s = state[0]
    drawn = 0
    new_pairs = 0
    written = 0
    while drawn < max_draws and new_pairs < max_new_pairs and written < len(out):
        drawn += 1
        s, u = next_uniform(s)
        src = rec_items[_pick(u, rec_starts[0], rec_starts[1], rec_thr, rec_alias)]
        s, u = next_uniform(s)
        rel = AV if u < av_share else AB
        line = line_of[src]
        s, u = next_uniform(s)
        if rel == AV and u < leaf_view:
            # a view of the own leaf's best sellers: a substitute beyond the own line
            leaf = line_leaf[line]
            s, u = next_uniform(s)
            k = _pick(u, leaf_starts[leaf], leaf_starts[leaf + 1], leaf_thr, leaf_alias)
            dst = leaf_items[k]
        else:
            target = line
            if rel == AB and u >= same_line_buy:
                deg = comp_off[line + 1] - comp_off[line]
                if deg > 0:
                    s, u = next_uniform(s)
                    target = comp_targets[comp_off[line] + min(int(u * deg), deg - 1)]
            s, u = next_uniform(s)
            k = _pick(u, line_starts[target], line_starts[target + 1], line_thr, line_alias)
            dst = line_items[k]
        if src == dst:
            continue
        added = _add(table, shift, n, src, rel, dst)
        if added:
            out[written] = (np.int64(src) * 3 + rel) * n + dst
            written += 1
            if added == 2:
                new_pairs += 1
    state[0] = s
    return drawn, new_pairs, written


class PairTable:
    """The catalog's distinct pairs with the entries behind each, grown as it fills."""

    def __init__(self, n: int, expected_pairs: int) -> None:
        self.n = n
        self.pairs = 0
        self._alloc(int(expected_pairs / MAX_LOAD) + 1)

    def _alloc(self, slots: int) -> None:
        bits = max(10, int(np.ceil(np.log2(slots))))
        self.table = np.full(1 << bits, EMPTY, dtype=np.int64)
        self.shift = np.uint64(64 - bits)

    @property
    def room(self) -> int:
        """Pairs that fit before the table must grow."""
        return int(MAX_LOAD * len(self.table)) - self.pairs

    def grow(self, pairs: int) -> None:
        """Make room for ``pairs`` more pairs."""
        if pairs <= self.room:
            return
        old, old_shift = self.table, self.shift
        self._alloc(int((self.pairs + pairs) / MAX_LOAD * 1.5) + 1)
        rehash(old, old_shift, self.table, self.shift)

    def add(self, codes: np.ndarray) -> None:
        """Record entry codes ``(src * 3 + rel) * n + dst`` (self-links excluded)."""
        self.grow(len(codes))
        self.pairs += add_entries(self.table, self.shift, self.n, codes)


LOCAL_SLOTS = 1 << 13  # a record's distinct entries within one batch (fewer than 2,000)


@njit(cache=True, inline="always")
def _in_sorted(a: np.ndarray, lo: int, hi: int, value: np.int64) -> bool:
    """Whether ``value`` is in the sorted slice ``a[lo:hi]``."""
    end = hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and a[lo] == value


@njit(cache=True)
def draw_by_record(
    state: np.ndarray,
    table: np.ndarray,
    shift: np.uint64,
    n: int,
    known: np.ndarray,
    known_start: np.ndarray,
    counts: np.ndarray,
    first: int,
    rec: tuple,
    line_of: np.ndarray,
    line_leaf: np.ndarray,
    complements: tuple,
    by_line: tuple,
    by_leaf: tuple,
    shares: np.ndarray,
    out: np.ndarray,
    max_new_pairs: int,
) -> tuple[int, int, int, int]:
    """``counts[i]`` forward draws from record ``rec[1][i]``, records from ``first`` on.

    The same draws as :func:`draw_forward` given how many fall on each record, made one
    record after the other: a record's line and complements stay in cache, repeats of
    its own entries within the batch are caught in a small local set, and entries made
    before in ``known`` (sorted codes; record ``r``'s at ``known_start[r]:known_start[r +
    1]``, one small slice), so that only the rest probe the big table: a popular record
    draws its hubs hundreds of times per batch. Stops before a record whose draws might
    not fit in ``out``, or at ``max_new_pairs`` new pairs. Returns (next record, draws,
    new pairs, entries written).
    """
    rec_items = rec[1]
    line_starts, line_items, line_thr, line_alias = by_line
    leaf_starts, leaf_items, leaf_thr, leaf_alias = by_leaf
    comp_off, comp_targets = complements
    av_share, leaf_view, same_line_buy = shares[0], shares[1], shares[2]
    local_key = np.empty(LOCAL_SLOTS, dtype=np.int64)
    local_stamp = np.full(LOCAL_SLOTS, -1, dtype=np.int64)
    local_mask = LOCAL_SLOTS - 1
    s = state[0]
    drawn = 0
    new_pairs = 0
    written = 0
    i = first
    while i < len(counts) and new_pairs < max_new_pairs:
        c = counts[i]
        if c > len(out) - written:
            break
        src = rec_items[i]
        line = line_of[src]
        leaf = line_leaf[line]
        deg = comp_off[line + 1] - comp_off[line]
        k_lo, k_hi = known_start[src], known_start[src + 1]
        local = 0
        for _ in range(c):
            drawn += 1
            s, u = next_uniform(s)
            rel = AV if u < av_share else AB
            s, u = next_uniform(s)
            if rel == AV and u < leaf_view:
                s, u = next_uniform(s)
                k = _pick(u, leaf_starts[leaf], leaf_starts[leaf + 1], leaf_thr, leaf_alias)
                dst = leaf_items[k]
            else:
                target = line
                if rel == AB and u >= same_line_buy and deg > 0:
                    s, u = next_uniform(s)
                    target = comp_targets[comp_off[line] + min(int(u * deg), deg - 1)]
                s, u = next_uniform(s)
                k = _pick(u, line_starts[target], line_starts[target + 1], line_thr, line_alias)
                dst = line_items[k]
            if src == dst:
                continue
            key = np.int64(dst) * 3 + rel
            if local < LOCAL_SLOTS // 2:
                h = _slot(key, np.uint64(64 - 13))
                seen = False
                while local_stamp[h] == i:
                    if local_key[h] == key:
                        seen = True
                        break
                    h = (h + 1) & local_mask
                if seen:
                    continue
                local_stamp[h] = i
                local_key[h] = key
                local += 1
            code = (np.int64(src) * 3 + rel) * n + dst
            if _in_sorted(known, k_lo, k_hi, code):
                continue
            added = _add(table, shift, n, src, rel, dst)
            if added:
                out[written] = code
                written += 1
                if added == 2:
                    new_pairs += 1
                    if new_pairs >= max_new_pairs:
                        break
        i += 1
    state[0] = s
    return i, drawn, new_pairs, written
