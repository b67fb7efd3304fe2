"""AUC by the rank-sum formula, and the live-AUC monitor handed to training loops."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_core.models.base import Embeddings, Monitor


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


def monitor_auc(embeddings: Embeddings, val: pd.DataFrame) -> tuple[float, float]:
    """Live validation AUC (all pairs, seen-only pairs) as reported during training.

    Untrained, non-cold-start products get the median score, the method's policy.
    """
    a = val["a"].to_numpy()
    b = val["b"].to_numpy()
    labels = val["label"].to_numpy()
    scores = embeddings.score_pairs(a, b).astype(np.float64)
    usable = embeddings.usable
    ok = usable[a] & usable[b]
    if ok.any() and not ok.all():
        scores[~ok] = np.median(scores[ok])
    seen = val["seen"].to_numpy()
    return rank_auc(scores, labels), rank_auc(scores[seen], labels[seen])


def make_monitor(val: pd.DataFrame) -> Monitor:
    """A monitor over fixed validation pairs, for :attr:`TrainingData.monitor`."""

    def monitor(embeddings: Embeddings) -> tuple[float, float]:
        return monitor_auc(embeddings, val)

    return monitor
