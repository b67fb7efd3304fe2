"""AUC by the rank-sum formula, unseen policies, and the live-AUC monitor handed to
training loops.

Unseen policies (what a pair gets when a product has no usable vector):

- ``"auto"`` (the default): a model that can place an unseen product (side-information
  models build cold-start vectors from its metadata) does so, as under ``"cold-start"``;
  every other model falls back to the method's median. The policy a report used is
  resolved per model (:func:`effective_policy`) and shown beside its figures.
- ``"median"`` (the method's): pairs with a product that was not *trained* get the median
  score of the other pairs. Many pairs then share one score, which is the "cliff" in the
  precision/recall-versus-threshold curves.
- ``"cold-start"``: cold-start vectors (side-information models) count as usable; the
  median for the rest.
- ``"random"``: score whatever vector is there (zeros for gensim, which score 0; random
  initial vectors for the PyTorch models, like the original code).

The live monitor and the final evaluation take the same policy, so the live curve and the
reported figure of one run agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_core.models.base import Embeddings, Monitor

UNSEEN_POLICIES = ("auto", "median", "cold-start", "random")


def rank_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties get their mean rank); NaN if one class."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # mean rank within each run of equal scores
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    mean_ranks = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_ranks, ends - starts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def effective_policy(embeddings: Embeddings, policy: str) -> str:
    """The policy actually applied: ``"auto"`` becomes ``"cold-start"`` for a model with
    cold-start vectors and ``"median"`` for any other; other policies stay as they are."""
    if policy != "auto":
        return policy
    cold = embeddings.cold_start
    return "cold-start" if cold is not None and np.any(cold) else "median"


def usable_mask(embeddings: Embeddings, policy: str) -> np.ndarray:
    """Products whose vector may be scored under ``policy``."""
    policy = effective_policy(embeddings, policy)
    if policy == "median":
        return np.asarray(embeddings.trained, dtype=bool)
    if policy == "cold-start":
        return np.asarray(embeddings.usable, dtype=bool)
    return np.ones(len(embeddings.trained), dtype=bool)


def pair_scores(
    embeddings: Embeddings, a: np.ndarray, b: np.ndarray, policy: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of pairs under an unseen policy: ``(scores float64, filled bool)``.

    ``filled`` marks pairs that got the median instead of their own score.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    scores = np.asarray(embeddings.score_pairs(a, b), dtype=np.float64)
    usable = usable_mask(embeddings, policy)
    ok = usable[a] & usable[b]
    filled = ~ok
    if filled.any():
        scores[filled] = np.median(scores[ok]) if ok.any() else 0.0
    return scores, filled


def monitor_auc(
    embeddings: Embeddings, val: pd.DataFrame, policy: str = "auto"
) -> tuple[float, float]:
    """Live validation AUC (all pairs, seen-only pairs) under ``policy``, as reported
    during training; the same scores the final evaluation gives these pairs."""
    labels = val["label"].to_numpy()
    scores, _ = pair_scores(embeddings, val["a"].to_numpy(), val["b"].to_numpy(), policy)
    seen = val["seen"].to_numpy().astype(bool)
    return rank_auc(scores, labels), rank_auc(scores[seen], labels[seen])


def make_monitor(val: pd.DataFrame, policy: str = "auto") -> Monitor:
    """A monitor over fixed validation pairs, for :attr:`TrainingData.monitor`."""

    def monitor(embeddings: Embeddings) -> tuple[float, float]:
        return monitor_auc(embeddings, val, policy)

    return monitor
