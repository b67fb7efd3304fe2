"""Vose's alias method: exact O(1) draws from a discrete distribution.

One compiled routine builds the table for a segment of a weight array, so the same code
serves the per-row tables of the walks (one segment per CSR row) and the negative sampler
(one segment over all items).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fill_alias(
    weights: np.ndarray, lo: int, hi: int, threshold: np.ndarray, alias: np.ndarray
) -> None:
    """Alias table of ``weights[lo:hi]``, written into ``threshold`` / ``alias[lo:hi]``.

    A draw landing in slot ``k`` with fraction ``f`` takes position ``k`` if
    ``f < threshold[k]``, else ``alias[k]`` (an absolute position in the same segment).
    Zero weights are never drawn; a segment of zero total weight draws uniformly.
    """
    size = hi - lo
    for k in range(lo, hi):
        threshold[k] = 1.0
        alias[k] = k
    if size <= 1:
        return
    total = 0.0
    for k in range(lo, hi):
        total += weights[k]
    if total <= 0.0:
        return
    scaled = np.empty(size, dtype=np.float64)
    small = np.empty(size, dtype=np.int64)
    large = np.empty(size, dtype=np.int64)
    n_small = 0
    n_large = 0
    for j in range(size):
        scaled[j] = weights[lo + j] * size / total
        if scaled[j] < 1.0:
            small[n_small] = j
            n_small += 1
        else:
            large[n_large] = j
            n_large += 1
    while n_small > 0 and n_large > 0:
        n_small -= 1
        s = small[n_small]
        g = large[n_large - 1]
        threshold[lo + s] = scaled[s]
        alias[lo + s] = lo + g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        if scaled[g] < 1.0:  # g gave away enough mass to become a small slot
            n_large -= 1
            small[n_small] = g
            n_small += 1
    # Whatever is left is full up to rounding: keep threshold 1 (never the alias).
