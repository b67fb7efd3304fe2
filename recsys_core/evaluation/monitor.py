"""The live ranking metric handed to training loops: validation NDCG@10 at each epoch end.

Tuning prunes trials on it (recsys_core.tuning), so it must be cheap and must score the
way the final evaluation does: the same filtered ranking (:mod:`recsys_core.evaluation.
ranking`, the model's own :meth:`Embeddings.score_block`) on a fixed sample of validation
query products, each with all its validation partners relevant and its train neighbours
filtered out. It never reads the test part.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.evaluation.auc import usable_mask
from recsys_core.evaluation.ranking import build_queries, rank_queries
from recsys_core.models.base import Embeddings


def make_ranking_monitor(
    val: pd.DataFrame,
    train_graph: sp.csr_matrix,
    policy: str = "auto",
    queries: int = 1000,
    k: int = 10,
    seed: int = 0,
) -> Callable[[Embeddings], float] | None:
    """``monitor(embeddings) -> NDCG@k`` over a fixed sample of validation queries, or
    None when validation has no positive pair."""
    positives = val[val["label"].astype(bool)]
    if positives.empty:
        return None
    n = train_graph.shape[0]
    seen = np.diff(sp.csr_matrix(train_graph).indptr) > 0
    sample = build_queries(
        positives["a"].to_numpy(np.int64),
        positives["b"].to_numpy(np.int64),
        seen,
        max_queries=queries,
        seed=seed,
    )
    known = sp.csr_matrix(train_graph, dtype=np.float32, shape=(n, n))

    def monitor(embeddings: Embeddings) -> float:
        usable = usable_mask(embeddings, policy)
        result = rank_queries(embeddings, sample, usable, known, ks=(k,))
        return float(result.metrics()[f"ndcg@{k}"])

    return monitor
