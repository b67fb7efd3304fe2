"""Random numbers for every numba kernel, inlined by numba.

Walks use a counter-based splitmix64 stream per walk; training kernels use one xorshift64*
stream per thread block (cheaper per draw, and a block's draws need no index).

Each walk seeds its own generator from (seed, walk index), so a walk's path depends only
on those two numbers: the same seed gives the same walks whatever the thread count or the
order in which threads pick up walks. numpy's global RandomState inside numba is
per-thread and would not give that.
"""

from __future__ import annotations

import numba
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


# --- training kernels: xorshift64* per thread block ---------------------------------

XS_MUL = np.uint64(0x2545F4914F6CDD1D)


@numba.njit(cache=True, inline="always")
def xorshift_next(state: np.uint64) -> np.uint64:
    # xorshift64*: the state update; the output is state * XS_MUL
    state ^= state >> np.uint64(12)
    state ^= state << np.uint64(25)
    state ^= state >> np.uint64(27)
    return state


@numba.njit(cache=True, inline="always")
def alias_draw(state: np.uint64, accept: np.ndarray, alias: np.ndarray) -> int:
    """One alias-method draw from the output of ``state``."""
    out = state * XS_MUL
    i = ((out >> np.uint64(32)) * np.uint64(len(accept))) >> np.uint64(32)
    frac = np.float32((out >> np.uint64(8)) & np.uint64(0xFFFFFF)) * np.float32(1.0 / 16777216.0)
    if frac < accept[i]:
        return np.int64(i)
    return np.int64(alias[i])


@numba.njit(cache=True, inline="always")
def block_state(seed: int, block: int) -> np.uint64:
    # splitmix-style mixing so neighbouring seeds / blocks give unrelated streams
    z = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(block + 1) * np.uint64(
        0xBF58476D1CE4E5B9
    )
    z ^= z >> np.uint64(31)
    z = z * np.uint64(0x94D049BB133111EB)
    return z | np.uint64(1)  # xorshift needs a non-zero state
