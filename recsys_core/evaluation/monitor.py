"""The live ranking metric handed to training loops: validation NDCG@10 at each epoch end.

Tuning prunes trials on it (recsys_core.tuning), so it must be cheap and must use the
model's own scoring rule: a fixed sample of validation query products, each with all its
validation partners as relevant items, ranked among every usable product by
:meth:`Embeddings.score_block`, with the query and its train neighbours filtered out (the
filtered protocol of the final evaluation, on fewer queries).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.evaluation.auc import usable_mask
from recsys_core.models.base import Embeddings

# Floats per score block: bounds memory whatever the catalog size.
BLOCK_FLOATS = 1 << 23


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
    a = positives["a"].to_numpy(np.int64)
    b = positives["b"].to_numpy(np.int64)
    relevant = sp.csr_matrix(
        (np.ones(2 * len(a), dtype=np.float32), (np.r_[a, b], np.r_[b, a])), shape=(n, n)
    )
    relevant.sum_duplicates()
    products = np.unique(np.r_[a, b])
    if len(products) > queries:
        products = np.sort(np.random.default_rng(seed).choice(products, queries, replace=False))
    known = sp.csr_matrix(train_graph, dtype=np.float32)

    def monitor(embeddings: Embeddings) -> float:
        return ndcg_at_k(embeddings, products, relevant, known, usable_mask(embeddings, policy), k)

    return monitor


def ndcg_at_k(
    embeddings: Embeddings,
    queries: np.ndarray,
    relevant: sp.csr_matrix,
    known: sp.csr_matrix,
    usable: np.ndarray,
    k: int = 10,
) -> float:
    """Mean NDCG@k of ``queries``: each ranks every usable product by the model's score,
    without itself and its ``known`` products; ``relevant`` rows are the right answers.
    A query whose product is unusable scores 0."""
    n = len(usable)
    candidates = np.flatnonzero(usable)
    if len(candidates) == 0 or len(queries) == 0:
        return float("nan")
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    chunk = max(1, BLOCK_FLOATS // max(n, 1))
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        q = q[usable[q]]
        if len(q) == 0:
            continue
        scores = np.full((len(q), n), -np.inf, dtype=np.float32)
        scores[:, candidates] = embeddings.score_block(q, candidates)
        scores[np.arange(len(q)), q] = -np.inf
        filtered = known[q].tocoo()
        scores[filtered.row, filtered.col] = -np.inf
        kk = min(k, n - 1)
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        rel = relevant[q]
        hits = np.asarray(rel[np.arange(len(q))[:, None], top].todense()) > 0
        n_rel = np.diff(rel.indptr)
        ideal = np.array([discount[: min(r, kk)].sum() for r in n_rel])
        gains = (hits * discount[:kk]).sum(axis=1)
        total += float(np.divide(gains, ideal, out=np.zeros(len(q)), where=ideal > 0).sum())
    return total / len(queries)
