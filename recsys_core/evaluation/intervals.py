"""95% intervals of ranking metrics: bootstrap over queries, paired differences, seeds.

- **Over queries** (:func:`bootstrap`): a metric is a mean over queries; resample the
  queries with replacement (``RESAMPLES`` times, fixed seed) and take the 2.5% and 97.5%
  percentiles of the resampled means. NaN values (a query without a list) are left out
  of each mean. Every metric of one report uses the same resamples.
- **Paired difference** (:func:`paired`): two models ranked on the same queries; the
  interval of the mean per-query difference, from the same resampling. This is the basis
  of verdicts: "A beats B" only when that interval excludes 0. Pairing removes the
  variation that comes from which queries were drawn, which both models share, so it
  separates models whose own intervals overlap.
- **Over seeds** (:func:`over_seeds`): one array of per-query values per seed (each seed
  has its own split, so its own queries). The figure is the mean over seeds of each
  seed's mean; the interval is a two-stage bootstrap: each resample draws the seeds with
  replacement, then the queries of each drawn seed, and averages. So the interval holds
  both the query noise within a seed and the spread between seeds; with one seed it is
  the bootstrap over queries. :func:`paired_over_seeds` does the same with per-query
  differences, for verdicts over seeds.
- **Coverage** (:func:`coverage_interval`) is not a mean over queries: a bootstrap
  resample repeats queries and so has fewer distinct lists, and its coverage is far below
  the figure (by more than the interval's width). Its interval is the jackknife's
  instead: leaving one query out removes the products only its list holds; the spread of
  those leave-one-out figures gives the standard error, and the interval is the figure
  +- 1.96 standard errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 20_240_601
# Resamples drawn at a time: bounds the (resamples x queries) count matrix in memory.
_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Interval:
    """A figure and its interval."""

    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        """The larger distance from the figure to an end (what "±" shows)."""
        return float(max(self.high - self.value, self.value - self.low))

    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)

    def as_list(self) -> list[float]:
        return [self.value, self.low, self.high]

    @classmethod
    def from_list(cls, values: Sequence[float | None]) -> Interval:
        nan = float("nan")
        v = [nan if x is None else float(x) for x in values]
        return cls(*([*v, nan, nan, nan])[:3])


NAN_INTERVAL = Interval(float("nan"), float("nan"), float("nan"))


def _counts(rng: np.random.Generator, resamples: int, n: int) -> np.ndarray:
    """(resamples, n) float64: how often each of n items is drawn in each resample."""
    draws = rng.integers(0, n, size=(resamples, n))
    flat = draws + (np.arange(resamples) * n)[:, None]
    return (
        np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)
    )


def resampled_means(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Bootstrap means of the columns of ``values`` (n queries x m metrics, or n):
    (resamples, m) or (resamples,), NaN values left out of each mean."""
    x = np.asarray(values, dtype=np.float64)
    one = x.ndim == 1
    x = x[:, None] if one else x
    n, m = x.shape
    out = np.full((resamples, m), np.nan)
    if n == 0:
        return out[:, 0] if one else out
    ok = ~np.isnan(x)
    filled = np.where(ok, x, 0.0)
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _BATCH):
        b = min(_BATCH, resamples - start)
        counts = _counts(rng, b, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + b] = (counts @ filled) / (counts @ ok)
    return out[:, 0] if one else out


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column (or of a vector): the two percentiles, NaN for a column without figures."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    x = np.asarray(samples, dtype=np.float64)
    one = x.ndim == 1
    x = x[:, None] if one else x
    low = np.full(x.shape[1], np.nan)
    high = np.full(x.shape[1], np.nan)
    for j in range(x.shape[1]):
        column = x[:, j][np.isfinite(x[:, j])]
        if len(column):
            low[j], high[j] = np.percentile(column, [tail, 100.0 - tail])
    return (low[0], high[0]) if one else (low, high)


def _mean(values: np.ndarray) -> float:
    x = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def bootstrap(
    values: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Mean of per-query ``values`` with its percentile bootstrap interval."""
    x = np.asarray(values, dtype=np.float64)
    if not len(x) or np.isnan(x).all():
        return NAN_INTERVAL
    low, high = _percentiles(resampled_means(x, resamples, seed), confidence)
    return Interval(_mean(x), float(low), float(high))


def bootstrap_many(
    columns: dict[str, np.ndarray],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, Interval]:
    """:func:`bootstrap` of several per-query arrays over the same queries, with one set
    of resamples (so the intervals of one report are consistent with each other)."""
    names = list(columns)
    if not names:
        return {}
    x = np.column_stack([np.asarray(columns[c], dtype=np.float64) for c in names])
    if not len(x):
        return {c: NAN_INTERVAL for c in names}
    low, high = _percentiles(resampled_means(x, resamples, seed), confidence)
    return {c: Interval(_mean(x[:, i]), float(low[i]), float(high[i])) for i, c in enumerate(names)}


def paired(
    a: np.ndarray,
    b: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Mean of ``a - b`` (the same queries, in the same order) with its interval."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"a paired comparison needs the same queries for both models, got {len(a)} and "
            f"{len(b)} values: evaluate both on the same pairs with the same settings"
        )
    return bootstrap(a - b, resamples, seed, confidence)


def align(
    queries_a: np.ndarray, values_a: np.ndarray, queries_b: np.ndarray, values_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The values of the queries both runs ranked, in one order (for :func:`paired`)."""
    _common, ia, ib = np.intersect1d(queries_a, queries_b, return_indices=True)
    return np.asarray(values_a)[ia], np.asarray(values_b)[ib]


def over_seeds(
    per_seed: Sequence[np.ndarray],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Mean over seeds of each seed's mean, with the two-stage bootstrap interval (seeds,
    then queries within each drawn seed; see the module notes)."""
    arrays = [np.asarray(x, dtype=np.float64) for x in per_seed]
    arrays = [x for x in arrays if len(x) and not np.isnan(x).all()]
    if not arrays:
        return NAN_INTERVAL
    value = float(np.mean([_mean(x) for x in arrays]))
    # each seed's bootstrap means, then draws of (seed, resample) pairs per stage-one draw
    means = np.stack([resampled_means(x, resamples, seed + 7919 * i) for i, x in enumerate(arrays)])
    rng = np.random.default_rng(seed)
    s = len(arrays)
    pick_seed = rng.integers(0, s, size=(resamples, s))
    pick_resample = rng.integers(0, resamples, size=(resamples, s))
    combined = np.nanmean(means[pick_seed, pick_resample], axis=1)
    low, high = _percentiles(combined, confidence)
    return Interval(value, float(low), float(high))


def paired_over_seeds(
    a: Sequence[np.ndarray],
    b: Sequence[np.ndarray],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> Interval:
    """:func:`over_seeds` of the per-query differences ``a[s] - b[s]`` (seed by seed)."""
    if len(a) != len(b):
        raise ValueError(f"paired seeds differ: {len(a)} and {len(b)}")
    diffs = []
    for x, y in zip(a, b, strict=True):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(
                "a paired comparison needs the same queries for both models in each seed"
            )
        diffs.append(x - y)
    return over_seeds(diffs, resamples, seed, confidence)


def coverage_interval(top: np.ndarray, n_usable: int, confidence: float = CONFIDENCE) -> Interval:
    """Catalog coverage of the top lists (rows of ``top``, -1 padded) with a jackknife
    interval over queries (see the module notes)."""
    top = np.asarray(top, dtype=np.int64)
    n = len(top)
    if not n or not n_usable:
        return NAN_INTERVAL
    listed = top >= 0
    items, inverse, counts = np.unique(top[listed], return_inverse=True, return_counts=True)
    value = len(items) / n_usable
    # leaving query i out loses the items no other query lists
    rows = np.nonzero(listed)[0]
    only = np.bincount(rows[counts[inverse] == 1], minlength=n)
    loo = value - only / n_usable
    se = float(np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum())) if n > 1 else 0.0
    z = float(_z(confidence))
    return Interval(value, value - z * se, value + z * se)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)
