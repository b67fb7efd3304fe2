"""Counter-based random numbers for the walk kernels (splitmix64, inlined by numba).

Each walk seeds its own generator from (seed, walk index), so a walk's path depends only
on those two numbers: the same seed gives the same walks whatever the thread count or the
order in which threads pick up walks. numpy's global RandomState inside numba is
per-thread and would not give that.
"""

from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_2 = np.uint64(0x94D049BB133111EB)
SHIFT_30 = np.uint64(30)
SHIFT_27 = np.uint64(27)
SHIFT_31 = np.uint64(31)
SHIFT_11 = np.uint64(11)
TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """splitmix64 finaliser: a bijective scramble of 64 bits (all operands stay uint64)."""
    z = (z ^ (z >> SHIFT_30)) * MIX_1
    z = (z ^ (z >> SHIFT_27)) * MIX_2
    return z ^ (z >> SHIFT_31)


@njit(cache=True, inline="always")
def walk_state(seed_state: np.uint64, walk_index: np.int64) -> np.uint64:
    """Initial generator state of one walk; ``seed_state`` is ``mix64(seed)``."""
    return mix64(seed_state + np.uint64(walk_index))


@njit(cache=True, inline="always")
def next_uniform(state: np.uint64) -> tuple[np.uint64, float]:
    """Advance ``state``; return it and a float64 uniform in [0, 1) from its top 53 bits."""
    state = state + GOLDEN
    return state, float(mix64(state) >> SHIFT_11) * TWO_POW_MINUS_53


def seed_state(seed: int) -> np.uint64:
    """Scrambled seed passed to the kernels (computed in Python, once per call)."""
    return np.uint64(mix64(np.uint64(seed)))
