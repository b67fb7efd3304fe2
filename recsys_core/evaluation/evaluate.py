"""Evaluation of trained embeddings on held-out pairs (the split's test part, or
validation in the method's split).

AUC-ROC over all pairs, over pairs whose two products were seen in training, and over the
pairs that involve an unseen product; the data behind the method's plots (ROC curve,
precision and recall versus threshold, precision-recall trade-off) as plain frames;
ranking metrics (NDCG@k, HitRate@k, Recall@k and MRR at k = 10 and 50, catalog coverage
and the popularity of what is recommended, by exact filtered ranking over the catalog,
see :mod:`recsys_core.evaluation.ranking`), each with its 95% bootstrap interval over
queries (:mod:`recsys_core.evaluation.intervals`); and AUC and ranking metrics per
popularity bucket of the pair (:func:`bucket_table`), the view that shows where a model
does better than popularity.

Unseen policies (``"auto"`` by default) are described in :mod:`recsys_core.evaluation.auc`.

Curves agree with scikit-learn's ``roc_curve`` and ``precision_recall_curve`` (same
algorithm), thinned to about ``curve_points`` points on large validation sets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.common.settings import Settings, require
from recsys_core.evaluation import intervals
from recsys_core.evaluation.auc import (
    UNSEEN_POLICIES,
    effective_policy,
    pair_scores,
    rank_auc,
    usable_mask,
)
from recsys_core.evaluation.ranking import (
    TOP,
    RankingResult,
    build_queries,
    rank_queries,
)
from recsys_core.evaluation.report import (
    BUCKET_COLUMNS,
    CURVE_NAMES,
    EvalReport,
    metric_label,
    paired_difference,
    ranking_order,
)
from recsys_core.models.base import Embeddings, TrainEvent

__all__ = [
    "BUCKETS",
    "BUCKET_COLUMNS",
    "CURVE_NAMES",
    "UNSEEN_POLICIES",
    "EvalReport",
    "EvalSettings",
    "bucket_table",
    "evaluate",
    "metric_label",
    "pair_scores",
    "paired_difference",
    "ranking_order",
    "usable_mask",
]

# Popularity buckets of a pair, most popular first (see bucket_table).
BUCKETS = ("head", "torso", "tail", "unseen")
# Ranking queries by default: on the default built-in catalog (20k products) the 95%
# interval of HitRate@10 is then within +-0.01 (bench/README.md, "Ranking queries").
DEFAULT_QUERIES = 10_000


@dataclasses.dataclass(frozen=True)
class EvalSettings(Settings):
    """How embeddings are evaluated.

    Parameters
    ----------
    unseen_policy:
        "auto" (cold-start vectors where the model has them, else the method's median),
        "median", "cold-start" or "random"; see :mod:`recsys_core.evaluation.auc`.
    ranking_k:
        The headline cut-off of NDCG@k, HitRate@k and Recall@k (10).
    ranking_k_wide:
        The second cut-off (50).
    ranking_sample:
        Largest catalog ranked exactly (every product a candidate); bigger catalogs rank
        among a fixed sample of this many products plus each query's relevant items, and
        every table says so.
    ranking_queries:
        Largest number of ranking queries (products of the evaluated part's positives),
        sampled with ``seed``; 0 ranks nothing. The default keeps the 95% interval of
        HitRate@10 within +-0.01 on the default built-in catalog (bench/README.md).
    bootstrap:
        Bootstrap resamples of the intervals (0: no intervals).
    curve_points:
        Approximate number of points kept per curve (0 keeps all).
    seed:
        Seed of the ranking samples (queries, candidate sample).
    """

    # 3: product queries with all their held-out partners relevant, other part filtered,
    # exact full-catalog ranking, k = 10 and 50, Recall, MRR, coverage, popularity,
    # bootstrap intervals, per-query arrays saved
    CODE_VERSION = 3

    unseen_policy: str = "auto"
    ranking_k: int = 10
    ranking_k_wide: int = 50
    ranking_sample: int = 500_000
    ranking_queries: int = DEFAULT_QUERIES
    bootstrap: int = intervals.RESAMPLES
    curve_points: int = 2000
    seed: int = 0

    def validate(self) -> None:
        require(
            self.unseen_policy in UNSEEN_POLICIES,
            f"unseen_policy must be one of {', '.join(UNSEEN_POLICIES)}, "
            f"got {self.unseen_policy!r}",
        )
        require(self.ranking_k >= 1, f"ranking_k must be >= 1, got {self.ranking_k}")
        require(self.ranking_k_wide >= 1, f"ranking_k_wide must be >= 1, got {self.ranking_k_wide}")
        require(
            self.ranking_sample >= 100, f"ranking_sample must be >= 100, got {self.ranking_sample}"
        )
        require(
            self.ranking_queries >= 0, f"ranking_queries must be >= 0, got {self.ranking_queries}"
        )
        require(self.bootstrap >= 0, f"bootstrap must be >= 0, got {self.bootstrap}")
        require(self.curve_points >= 0, f"curve_points must be >= 0, got {self.curve_points}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")

    @property
    def ks(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys((self.ranking_k, self.ranking_k_wide)))


def binary_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """(fps, tps, thresholds) at each distinct score, decreasing (scikit-learn's algorithm)."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    s = np.asarray(scores, dtype=np.float64)[order]
    y = np.asarray(labels, dtype=np.float64)[order]
    idx = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[idx]
    fps = 1 + idx - tps
    return fps, tps, s[idx]


def roc_frame(scores: np.ndarray, labels: np.ndarray, max_points: int = 0) -> pd.DataFrame:
    """ROC curve as scikit-learn's ``roc_curve`` (drop_intermediate=True) gives it."""
    if len(scores) == 0 or len(np.unique(labels)) < 2:
        return pd.DataFrame({"fpr": [], "tpr": [], "threshold": []}, dtype=np.float64)
    fps, tps, thr = binary_curve(scores, labels)
    if len(fps) > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    fps, tps, thr = np.r_[0, fps], np.r_[0, tps], np.r_[np.inf, thr]
    keep = _thin(fps + tps, max_points)
    return pd.DataFrame(
        {"fpr": fps[keep] / fps[-1], "tpr": tps[keep] / tps[-1], "threshold": thr[keep]}
    )


def pr_frame(scores: np.ndarray, labels: np.ndarray, max_points: int = 0) -> pd.DataFrame:
    """Precision and recall at each threshold, increasing (``precision_recall_curve``)."""
    if len(scores) == 0 or not np.any(labels):
        return pd.DataFrame({"threshold": [], "precision": [], "recall": []}, dtype=np.float64)
    fps, tps, thr = binary_curve(scores, labels)
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    recall = tps / tps[-1]
    keep = _thin(predicted, max_points)
    return (
        pd.DataFrame({"threshold": thr[keep], "precision": precision[keep], "recall": recall[keep]})
        .iloc[::-1]
        .reset_index(drop=True)
    )


def _thin(cumulative: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of about ``max_points`` curve points, evenly spread in index and in the
    number of pairs passed, so a big tie (the median cliff) is always kept."""
    n = len(cumulative)
    if max_points <= 0 or n <= max_points:
        return np.arange(n)
    half = max(2, max_points // 2)
    by_index = np.linspace(0, n - 1, half).round().astype(np.int64)
    levels = np.linspace(cumulative[0], cumulative[-1], half)
    by_mass = np.minimum(np.searchsorted(cumulative, levels), n - 1)
    return np.unique(np.concatenate([by_index, by_mass, [0, n - 1]]))


def evaluate(
    embeddings: Embeddings,
    val: pd.DataFrame,
    seen_products: np.ndarray,
    settings: EvalSettings | None = None,
    train_graph: sp.csr_matrix | None = None,
    part: str | None = None,
    protocol: str | None = None,
    other_part: pd.DataFrame | None = None,
) -> EvalReport:
    """AUCs, curves, ranking metrics with intervals and per-bucket metrics of
    ``embeddings`` on held-out pairs.

    Parameters
    ----------
    embeddings:
        Trained vectors (any model; its own ``score_pairs`` scores the pairs and its
        ``score_block`` ranks the catalog).
    val:
        Held-out pairs ``a``, ``b``, ``label`` and optionally ``seen`` (the split's test
        part for reported figures, validation in the method's split).
    seen_products:
        Bool per product: has a train pair (defines seen / unseen pairs).
    settings:
        :class:`EvalSettings`; defaults when None.
    train_graph:
        Train adjacency; its neighbours are filtered out of the ranking candidates, its
        degrees define the popularity buckets (none without it) and the popularity of
        what is recommended.
    part, protocol:
        Which split part ("test" or "validation") and negative protocol the pairs are;
        recorded in the report's ``info`` so every table can say so.
    other_part:
        The other held-out part's pairs (validation when ``val`` is test); its positives
        are filtered out of the ranking candidates (right answers this part does not
        count). Leave it None when evaluating validation to make a choice (tuning,
        sweeps): filtering the test partners would read test labels.
    """
    settings = settings or EvalSettings()
    seen_products = np.asarray(seen_products, dtype=bool)
    a = val["a"].to_numpy(np.int64)
    b = val["b"].to_numpy(np.int64)
    labels = val["label"].to_numpy().astype(bool)
    seen = (
        val["seen"].to_numpy().astype(bool)
        if "seen" in val
        else seen_products[a] & seen_products[b]
    )
    policy = effective_policy(embeddings, settings.unseen_policy)
    scores, filled = pair_scores(embeddings, a, b, policy)
    ranking = _ranking(
        embeddings, a[labels], b[labels], seen_products, settings, policy, train_graph, other_part
    )
    per_query = ranking_arrays(ranking) if ranking is not None else {}
    figures = ranking_intervals(ranking, per_query, settings.bootstrap)
    by_bucket = (
        bucket_table(
            pair_min_degree(train_graph, a, b),
            scores,
            labels,
            ranking,
            per_query,
            degree=np.diff(sp.csr_matrix(train_graph).indptr),
        )
        if train_graph is not None
        else pd.DataFrame(columns=list(BUCKET_COLUMNS))
    )
    info = _info(part, protocol, policy, scores, filled, embeddings.score, ranking)
    return EvalReport(
        auc_all=rank_auc(scores, labels),
        auc_seen=rank_auc(scores[seen], labels[seen]),
        auc_unseen=rank_auc(scores[~seen], labels[~seen]),
        k=settings.ranking_k,
        k_wide=settings.ranking_k_wide,
        counts=_counts(labels, seen, filled, ranking),
        curves=_curves(scores, labels, seen, settings.curve_points),
        settings=settings.as_dict(),
        info=info,
        by_bucket=by_bucket,
        ranking={name: iv.as_list() for name, iv in figures.items()},
        per_query=per_query,
    )


def ranking_arrays(ranking: RankingResult) -> dict[str, np.ndarray]:
    """The per-query arrays a report keeps: query ids, seen flags, every metric, top lists."""
    return {
        "query": ranking.queries.products.astype(np.int64),
        "seen": ranking.queries.seen.astype(bool),
        **ranking.per_query(),
        "top": ranking.top.astype(np.int32),  # product ids (-1: a short list)
    }


def ranking_intervals(
    ranking: RankingResult | None,
    per_query: dict[str, np.ndarray],
    resamples: int,
    seed: int = intervals.SEED,
) -> dict[str, intervals.Interval]:
    """Every ranking metric with its interval, over all queries and over seen queries
    (NaN intervals when ``resamples`` is 0)."""
    if ranking is None:
        return {}
    names = [c for c in per_query if c not in ("query", "seen", "top")]
    seen = per_query["seen"]
    columns = {c: per_query[c] for c in names}
    seen_columns = {f"{c}_seen": per_query[c][seen] for c in names}
    if resamples:
        out = intervals.bootstrap_many(columns, resamples, seed)
        out |= intervals.bootstrap_many(seen_columns, resamples, seed)
        coverage = intervals.coverage_interval(ranking.top, ranking.n_usable)
    else:
        out = {
            c: intervals.Interval(_nanmean(v), float("nan"), float("nan"))
            for c, v in (columns | seen_columns).items()
        }
        coverage = intervals.Interval(ranking.coverage(), float("nan"), float("nan"))
    out[f"coverage@{TOP}"] = coverage
    return out


def _nanmean(values: np.ndarray) -> float:
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


def _info(
    part: str | None,
    protocol: str | None,
    policy: str,
    scores: np.ndarray,
    filled: np.ndarray,
    score: str,
    ranking: RankingResult | None,
) -> dict[str, Any]:
    """What the figures are of: part, protocol, policy, and how ranking and buckets work."""
    candidates = "all products"
    if ranking is not None and ranking.sampled:
        candidates = (
            f"a fixed sample of {ranking.n_candidates:,} products plus each query's "
            "relevant items (catalog above the exact-ranking limit)"
        )
    return {
        "part": part,
        "protocol": protocol,
        "unseen_policy": policy,
        "median_score": float(scores[filled][0]) if filled.any() else None,
        "score": score,
        "ranking": RANKING_NOTE,
        "ranking_candidates": candidates,
        "intervals": INTERVAL_NOTE,
        "buckets": BUCKET_NOTE,
    }


RANKING_NOTE = (
    "each query is a product of the evaluated part's positive pairs; its relevant items "
    "are all its partners in that part. Candidates: every product (or a stated sample), "
    "without the query, its train neighbours and its partners in the other held-out "
    "part; ranked by the model's own score; ties count half; a query's relevant items "
    "do not push each other down. NDCG@k over min(|relevant|, k) ideal items, HitRate@k "
    "(a relevant item in the top k), Recall@k (share of relevant items in the top k), "
    "MRR (1 / (best rank + 1)); coverage: distinct products in the top-10 lists over the "
    "usable catalog; popularity: mean log(1 + train degree) of the top-10 lists"
)
INTERVAL_NOTE = (
    "95% percentile bootstrap over queries (1000 resamples, fixed seed); coverage: "
    "jackknife over queries"
)


def _curves(
    scores: np.ndarray, labels: np.ndarray, seen: np.ndarray, points: int
) -> dict[str, pd.DataFrame]:
    return {
        "roc_all": roc_frame(scores, labels, points),
        "roc_seen": roc_frame(scores[seen], labels[seen], points),
        "pr_all": pr_frame(scores, labels, points),
        "pr_seen": pr_frame(scores[seen], labels[seen], points),
    }


def _counts(
    labels: np.ndarray, seen: np.ndarray, filled: np.ndarray, ranking: RankingResult | None
) -> dict[str, int]:
    return {
        "pairs": len(labels),
        "positives": int(labels.sum()),
        "negatives": int((~labels).sum()),
        "seen_pairs": int(seen.sum()),
        "unseen_pairs": int((~seen).sum()),
        "unseen_positives": int((labels & ~seen).sum()),
        "unseen_negatives": int((~labels & ~seen).sum()),
        "filled_pairs": int(filled.sum()),
        "ranking_queries": len(ranking.queries) if ranking is not None else 0,
        "ranking_queries_seen": int(ranking.queries.seen.sum()) if ranking is not None else 0,
        "ranking_relevant": len(ranking.queries.rel) if ranking is not None else 0,
        "ranking_candidates": ranking.n_candidates if ranking is not None else 0,
    }


BUCKET_NOTE = (
    "a pair's popularity is the train degree of its rarer product, min(deg a, deg b): a "
    "pair is only as well known as its least known product. unseen: min degree 0 (a "
    "product with no train pair); tail, torso, head: the lower, middle and upper third "
    "of the seen positive pairs by that degree (min_degree_from..min_degree_to, both "
    "inclusive). Each bucket's AUC compares its positives with its negatives; its ranking "
    "metrics average over the queries whose rarest pair falls in it (the min degree over "
    "the query and all its partners)"
)


def pair_min_degree(train_graph: sp.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Train degree (number of neighbours) of the rarer product of each pair."""
    degree = np.diff(sp.csr_matrix(train_graph).indptr)
    return np.minimum(degree[a], degree[b])


def bucket_edges(min_degree: np.ndarray, labels: np.ndarray) -> list[tuple[str, int, int]]:
    """``(bucket, from, to)`` min-degree ranges, both ends inclusive: the tertiles of the
    seen positive pairs (ties keep a degree in one bucket, so a bucket may be empty)."""
    seen_pos = min_degree[labels & (min_degree > 0)]
    top = int(min_degree.max()) if len(min_degree) else 0
    if len(seen_pos) == 0:
        return [("unseen", 0, 0), ("tail", 1, top)]
    q1, q2 = (int(np.quantile(seen_pos, q, method="lower")) for q in (1 / 3, 2 / 3))
    return [
        ("head", q2 + 1, max(top, q2 + 1)),
        ("torso", q1 + 1, q2),
        ("tail", 1, q1),
        ("unseen", 0, 0),
    ]


def query_min_degree(ranking: RankingResult, degree: np.ndarray) -> np.ndarray:
    """Per query, the train degree of the rarest product among it and its partners."""
    q = ranking.queries
    partner = np.full(len(q), np.iinfo(np.int64).max)
    np.minimum.at(partner, q.rows(), degree[q.rel])
    return np.minimum(degree[q.products], partner)


def bucket_table(
    min_degree: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    ranking: RankingResult | None = None,
    per_query: dict[str, np.ndarray] | None = None,
    degree: np.ndarray | None = None,
) -> pd.DataFrame:
    """AUC and ranking metrics at k per popularity bucket of the pair (``BUCKET_NOTE``).

    ``min_degree`` per evaluated pair; ``degree`` (train degree per product) places each
    ranking query in the bucket of its rarest pair. Without it the buckets carry AUC only.
    """
    rows = []
    nan = float("nan")
    query_degree = None
    if ranking is not None and per_query and degree is not None:
        query_degree = query_min_degree(ranking, degree)
    k = ranking.ks[0] if ranking is not None else 10
    for name, lo, hi in bucket_edges(min_degree, labels):
        inside = (min_degree >= lo) & (min_degree <= hi)
        row = {
            "bucket": name,
            "min_degree_from": lo,
            "min_degree_to": hi,
            "pairs": int(inside.sum()),
            "positives": int((inside & labels).sum()),
            "negatives": int((inside & ~labels).sum()),
            "auc": rank_auc(scores[inside], labels[inside]),
            "queries": 0,
            "hit_rate": nan,
            "ndcg": nan,
            "recall": nan,
            "mrr": nan,
        }
        if query_degree is not None:
            q = (query_degree >= lo) & (query_degree <= hi)
            row["queries"] = int(q.sum())
            if q.any():
                row["hit_rate"] = float(per_query[f"hit_rate@{k}"][q].mean())
                row["ndcg"] = float(per_query[f"ndcg@{k}"][q].mean())
                row["recall"] = float(per_query[f"recall@{k}"][q].mean())
                row["mrr"] = float(per_query["mrr"][q].mean())
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(BUCKET_COLUMNS))
    return frame.astype({c: float for c in BUCKET_COLUMNS if c != "bucket"})


def _ranking(
    embeddings: Embeddings,
    pos_a: np.ndarray,
    pos_b: np.ndarray,
    seen_products: np.ndarray,
    settings: EvalSettings,
    policy: str,
    train_graph: sp.csr_matrix | None,
    other_part: pd.DataFrame | None,
) -> RankingResult | None:
    """Rank the queries of the positive pairs (see :mod:`recsys_core.evaluation.ranking`)."""
    if settings.ranking_queries == 0 or not len(pos_a):
        return None
    n = len(embeddings.trained)
    queries = build_queries(pos_a, pos_b, seen_products, settings.ranking_queries, settings.seed)
    parts = []
    if train_graph is not None:
        parts.append(sp.csr_matrix(train_graph, dtype=np.float32))
    if other_part is not None and len(other_part):
        positive = other_part["label"].to_numpy().astype(bool)
        oa = other_part["a"].to_numpy(np.int64)[positive]
        ob = other_part["b"].to_numpy(np.int64)[positive]
        parts.append(
            sp.csr_matrix(
                (np.ones(2 * len(oa), dtype=np.float32), (np.r_[oa, ob], np.r_[ob, oa])),
                shape=(n, n),
            )
        )
    known = None
    if parts:
        known = sum(parts[1:], parts[0]).tocsr()
        known.sum_duplicates()
        known.sort_indices()
    log_degree = (
        np.log1p(np.diff(sp.csr_matrix(train_graph).indptr).astype(np.float64))
        if train_graph is not None
        else None
    )
    return rank_queries(
        embeddings,
        queries,
        usable_mask(embeddings, policy),
        known,
        log_degree=log_degree,
        ks=settings.ks,
        max_candidates=settings.ranking_sample,
        seed=settings.seed,
    )


def scoring_view(embeddings: Embeddings) -> Embeddings:
    """The embeddings as they are: a vectors object scores its pairs itself, and
    :meth:`Embeddings.load` already returns the subclass that saved them (its ``kind``).
    Kept for callers written before that."""
    return embeddings


def auc_curve_frame(events: Iterable[TrainEvent | Mapping[str, Any]]) -> pd.DataFrame:
    """AUC over training steps, from TrainEvent objects or their dicts.

    Columns: step, epoch, auc, auc_seen, lr, elapsed, restart. ``restart`` is True on the
    last AUC row of each epoch (where cosine schedules restart: draw a vertical line).
    The frame's ``attrs["restarts"]`` lists the steps of every epoch end, AUC or not.
    """
    rows = [e.as_dict() if isinstance(e, TrainEvent) else dict(e) for e in events]
    restarts = [int(r["step"]) for r in rows if r.get("epoch_end")]
    cols = ["step", "epoch", "auc", "auc_seen", "lr", "elapsed"]
    kept = [{c: r.get(c) for c in cols} | {"restart": bool(r.get("epoch_end"))} for r in rows]
    kept = [r for r in kept if r["auc"] is not None]
    frame = pd.DataFrame(kept, columns=[*cols, "restart"])
    frame = frame.astype({"auc": float, "auc_seen": float}) if len(frame) else frame
    frame.attrs["restarts"] = restarts
    return frame
