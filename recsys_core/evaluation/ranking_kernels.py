"""Compiled inner loops of the ranking scan (:mod:`recsys_core.evaluation.ranking`).

One pass over a (queries x candidates) score block does two things per query row:

- counts, for each of the row's relevant items (their scores sorted ascending), the
  candidates scoring higher and equal: a candidate's place among the sorted relevant
  scores is found once (linear for a few relevant items, binary search for many) and
  recorded in per-row histograms, so a query with 500 relevant items costs little more
  than one with one;
- keeps the row's running top-k (value, position), ties keeping the earlier position.

The histograms hold, per row, ``R + 1`` slots (R relevant items): ``below[L]`` counts the
candidates with exactly L relevant scores strictly below them, and ``ties`` is a
difference array of the runs of equal scores; :func:`finish_counts` turns them into
"higher" and "equal" counts per relevant item.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _place(t: np.ndarray, r0: int, r1: int, s: float) -> tuple[int, int]:
    """(number of t[r0:r1] < s, number <= s) for ascending t."""
    n = r1 - r0
    if n <= 16:
        # branch-free: where relevant items sit mid-list, s < t is a coin flip that a
        # loop with an early exit would mispredict
        lo = 0
        hi = 0
        for m in range(r0, r1):
            lo += t[m] < s
            hi += t[m] <= s
        return lo, hi
    a, b = 0, n
    while a < b:
        m = (a + b) >> 1
        if t[r0 + m] < s:
            a = m + 1
        else:
            b = m
    lo = a
    b = n
    while a < b:
        m = (a + b) >> 1
        if t[r0 + m] <= s:
            a = m + 1
        else:
            b = m
    return lo, a


# Rows with more relevant items than this use one pass with a binary search per candidate;
# fewer make one vectorised pass per relevant item (no data-dependent branches).
_FEW = 24


@numba.njit(parallel=True, cache=True)
def scan_block(
    block: np.ndarray,
    col0: int,
    cand_ok: np.ndarray,
    f_ptr: np.ndarray,
    f_pos: np.ndarray,
    r_ptr: np.ndarray,
    r_pos: np.ndarray,
    t: np.ndarray,
    below: np.ndarray,
    ties: np.ndarray,
    top_val: np.ndarray,
    top_pos: np.ndarray,
) -> None:
    """Fold one chunk of candidates (columns ``col0 ..``) into the rows' counts and top-k.

    ``f_pos[f_ptr[i]:f_ptr[i+1]]``: sorted candidate positions filtered out for row i.
    ``r_pos`` / ``t``: candidate position (-1 when not a candidate) and score of each
    relevant item, rows' items sorted by score ascending. A relevant item met in the
    chunk is counted like any candidate and then taken back out, so each relevant item's
    counts cover the non-relevant candidates only (the filtered setting). ``block`` is
    overwritten: filtered and unusable candidates become -inf (never above or equal to a
    finite score, never listed).
    """
    rows, width = block.shape
    k = top_val.shape[1]
    neg = -np.inf
    for i in numba.prange(rows):
        row = block[i]
        for jj in range(width):
            if not cand_ok[jj] or row[jj] != row[jj]:
                row[jj] = neg
        for f in range(f_ptr[i], f_ptr[i + 1]):
            p = f_pos[f] - col0
            if 0 <= p < width:
                row[p] = neg
        r0 = r_ptr[i]
        r1 = r_ptr[i + 1]
        slot = r0 + i  # row i's R + 1 histogram slots start here
        n_rel = r1 - r0
        if n_rel > _FEW:
            for jj in range(width):
                s = row[jj]
                if s == neg:
                    continue
                lo, hi = _place(t, r0, r1, s)
                below[slot + lo] += 1
                if hi > lo:
                    ties[slot + lo] += 1
                    ties[slot + hi] -= 1
        else:
            for m in range(n_rel):
                tm = t[r0 + m]
                higher = 0
                equal = 0
                for jj in range(width):
                    s = row[jj]
                    higher += s > tm
                    equal += s == tm
                # as histograms: "higher than item m" is "more than m scores below"
                below[slot + m + 1] += higher
                below[slot + m] -= higher
                ties[slot + m] += equal
                ties[slot + m + 1] -= equal
        for jj in range(width):
            s = row[jj]
            if s > top_val[i, k - 1]:
                m = k - 1
                while m > 0 and s > top_val[i, m - 1]:
                    top_val[i, m] = top_val[i, m - 1]
                    top_pos[i, m] = top_pos[i, m - 1]
                    m -= 1
                top_val[i, m] = s
                top_pos[i, m] = col0 + jj
        for r in range(r0, r1):
            p = r_pos[r] - col0
            if p < 0 or p >= width or r_pos[r] < 0:
                continue
            s = row[p]
            if s == neg:
                continue
            lo, hi = _place(t, r0, r1, s)
            below[slot + lo] -= 1
            if hi > lo:
                ties[slot + lo] -= 1
                ties[slot + hi] += 1


@numba.njit(cache=True)
def finish_counts(
    r_ptr: np.ndarray, below: np.ndarray, ties: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per relevant item: candidates scoring higher, and scoring equal."""
    total = r_ptr[-1]
    higher = np.zeros(total, dtype=np.float64)
    equal = np.zeros(total, dtype=np.float64)
    for i in range(len(r_ptr) - 1):
        r0, r1 = r_ptr[i], r_ptr[i + 1]
        slot = r0 + i
        n = r1 - r0
        # higher[m]: candidates with more than m relevant scores below them
        run = 0.0
        for m in range(n - 1, -1, -1):
            run += below[slot + m + 1]
            higher[r0 + m] = run
        run = 0.0
        for m in range(n):
            run += ties[slot + m]
            equal[r0 + m] = run
    return higher, equal


@numba.njit(cache=True)
def list_positions(r_ptr: np.ndarray, t: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    """Each relevant item's expected position in the query's list: its filtered rank plus
    the row's relevant items scoring higher, plus half of those scoring equal (rows'
    scores ascending; NaN scores, the unusable items, stay out and keep rank inf)."""
    out = filtered.copy()
    for i in range(len(r_ptr) - 1):
        r0, r1 = r_ptr[i], r_ptr[i + 1]
        for a in range(r0, r1):
            if t[a] != t[a]:
                continue
            above = 0.0
            for b in range(r0, r1):
                if b == a or t[b] != t[b]:
                    continue
                if t[b] > t[a]:
                    above += 1.0
                elif t[b] == t[a]:
                    above += 0.5
            out[a] = filtered[a] + above
    return out
