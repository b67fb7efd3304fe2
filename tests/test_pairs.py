"""Skip-gram pairs, subsampling and the negative sampler."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_core.models.skipgram_pairs import (
    NegativeSampler,
    skipgram_pairs,
    subsample_keep_prob,
    token_counts,
)


def _brute_pairs(walks: np.ndarray, window: int) -> list[tuple[int, int]]:
    out = []
    for row in walks:
        row = row[row >= 0]
        for i in range(len(row)):
            for j in range(max(0, i - window), min(len(row), i + window + 1)):
                if j != i:
                    out.append((int(row[i]), int(row[j])))
    return out


def test_pairs_match_brute_force_without_subsampling() -> None:
    rng = np.random.default_rng(0)
    walks = rng.integers(0, 50, size=(40, 9)).astype(np.int32)
    walks[3, 6:] = -1  # padding never pairs
    c, x = skipgram_pairs(walks, 3, rng, reduced_window=False)
    assert c.dtype == np.int32 and x.dtype == np.int32
    assert sorted(zip(c.tolist(), x.tolist(), strict=True)) == sorted(_brute_pairs(walks, 3))


def test_pair_count_and_distance_with_reduced_window() -> None:
    rng = np.random.default_rng(1)
    n, length, window = 2000, 10, 5
    # distinct tokens, so a pair's distance can be read off the token values
    walks = (np.arange(n * length).reshape(n, length)).astype(np.int32)
    c, x = skipgram_pairs(walks, window, rng)
    dist = np.abs(c - x)
    assert dist.min() >= 1 and dist.max() <= window
    assert np.all(c // length == x // length)  # never across walks
    # each center draws a window uniformly in 1..window: E[pairs at distance d] =
    # (#positions with a neighbour at d, both sides) * P(reach >= d)
    for d in range(1, window + 1):
        expected = 2 * n * (length - d) * (window - d + 1) / window
        assert abs((dist == d).sum() - expected) < 5 * np.sqrt(expected)


def test_subsampling_drops_frequent_items_at_the_right_rate() -> None:
    rng = np.random.default_rng(2)
    # item 0 is half of all tokens; the rest are rare
    n_walks, length = 4000, 10
    walks = rng.integers(1, 5000, size=(n_walks, length)).astype(np.int32)
    walks[rng.random(walks.shape) < 0.5] = 0
    counts = token_counts(walks, 5000)
    keep = subsample_keep_prob(counts, 1e-3)
    share = counts[0] / counts.sum()
    assert keep[0] == pytest.approx(np.sqrt(1e-3 / share) + 1e-3 / share)
    assert np.all(keep[1:][counts[1:] > 0] == 1.0)
    c, _ = skipgram_pairs(walks, 2, rng, keep_prob=keep, reduced_window=False)
    # the share of kept 0-tokens shows in the centers: compare with the rare tokens
    kept_zero = (c == 0).sum() / (4 * counts[0])
    kept_rare = (c != 0).sum() / (4 * (counts.sum() - counts[0]))
    assert kept_zero / kept_rare == pytest.approx(keep[0], rel=0.15)
    assert subsample_keep_prob(counts, 0).min() == 1.0


def test_negative_sampler_follows_unigram_power() -> None:
    counts = np.array([0, 1, 10, 100, 1000, 7], dtype=np.int64)
    expected = np.where(counts > 0, counts, 0) ** 0.75
    expected = expected / expected.sum()
    for table_size in (None, 1_000_000):
        sampler = NegativeSampler(counts, rng=np.random.default_rng(3), table_size=table_size)
        draws = sampler.sample(400_000)
        assert draws.dtype == np.int32
        freq = np.bincount(draws, minlength=len(counts)) / len(draws)
        assert freq[0] == 0.0
        np.testing.assert_allclose(freq, expected, atol=0.003)
    assert NegativeSampler(counts).sample((7, 3)).shape == (7, 3)
