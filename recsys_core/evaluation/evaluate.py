"""Evaluation of trained embeddings on held-out pairs (the split's test part, or
validation in the method's split).

AUC-ROC over all pairs, over pairs whose two products were seen in training, and over the
pairs that involve an unseen product; the data behind the method's plots (ROC curve,
precision and recall versus threshold, precision-recall trade-off) as plain frames;
ranking metrics (HitRate@k, NDCG@k, see :mod:`recsys_core.evaluation.ranking`); and all
of these per popularity bucket of the pair (:func:`bucket_table`), the view that shows
where a model does better than popularity.

Unseen policies (``"auto"`` by default) are described in :mod:`recsys_core.evaluation.auc`.

Curves agree with scikit-learn's ``roc_curve`` and ``precision_recall_curve`` (same
algorithm), thinned to about ``curve_points`` points on large validation sets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_core.common import cache
from recsys_core.common.settings import Settings, require
from recsys_core.evaluation.auc import (
    UNSEEN_POLICIES,
    effective_policy,
    pair_scores,
    rank_auc,
    usable_mask,
)
from recsys_core.evaluation.ranking import RankingResult, rank_partners
from recsys_core.models.base import Embeddings, TrainEvent

__all__ = [
    "BUCKETS",
    "UNSEEN_POLICIES",
    "EvalReport",
    "EvalSettings",
    "bucket_table",
    "evaluate",
    "pair_scores",
    "usable_mask",
]

# Popularity buckets of a pair, most popular first (see bucket_table).
BUCKETS = ("head", "torso", "tail", "unseen")
BUCKET_COLUMNS = (
    "bucket",
    "min_degree_from",
    "min_degree_to",
    "pairs",
    "positives",
    "negatives",
    "auc",
    "hit_rate",
    "ndcg",
)


@dataclasses.dataclass(frozen=True)
class EvalSettings(Settings):
    """How embeddings are evaluated.

    Parameters
    ----------
    unseen_policy:
        "auto" (cold-start vectors where the model has them, else the method's median),
        "median", "cold-start" or "random"; see :mod:`recsys_core.evaluation.auc`.
    ranking_k:
        Cut-off of HitRate@k and NDCG@k.
    ranking_sample:
        Largest candidate set for ranking; bigger catalogs rank among a fixed sample of
        this many products plus the true partner.
    ranking_queries:
        Largest number of ranking queries (validation positives, both directions),
        sampled with ``seed``.
    curve_points:
        Approximate number of points kept per curve (0 keeps all).
    seed:
        Seed of the ranking samples.
    """

    CODE_VERSION = 2  # 2: auto policy, per-bucket metrics, part and protocol in info

    unseen_policy: str = "auto"
    ranking_k: int = 10
    ranking_sample: int = 100_000
    ranking_queries: int = 2000
    curve_points: int = 2000
    seed: int = 0

    def validate(self) -> None:
        require(
            self.unseen_policy in UNSEEN_POLICIES,
            f"unseen_policy must be one of {', '.join(UNSEEN_POLICIES)}, "
            f"got {self.unseen_policy!r}",
        )
        require(self.ranking_k >= 1, f"ranking_k must be >= 1, got {self.ranking_k}")
        require(
            self.ranking_sample >= 100, f"ranking_sample must be >= 100, got {self.ranking_sample}"
        )
        require(
            self.ranking_queries >= 0, f"ranking_queries must be >= 0, got {self.ranking_queries}"
        )
        require(self.curve_points >= 0, f"curve_points must be >= 0, got {self.curve_points}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")


CURVE_NAMES = ("roc_all", "roc_seen", "pr_all", "pr_seen")


@dataclasses.dataclass
class EvalReport:
    """Metrics and plot data of one evaluation; saved as JSON + npz, no pickle.

    Curves: ``roc_*`` frames have ``fpr``, ``tpr``, ``threshold`` (scikit-learn's
    ``roc_curve``, first threshold +inf); ``pr_*`` frames have ``threshold`` (increasing),
    ``precision``, ``recall`` (``precision_recall_curve`` without its final (1, 0) point).
    Plot precision and recall against ``threshold`` for the method's threshold plot,
    ``precision`` against ``recall`` for the trade-off.

    ``by_bucket`` has one row per popularity bucket of the pair (:func:`bucket_table`);
    ``info`` says which part of the split (``part``: "test" or "validation"), which
    negative protocol (``protocol``) and which unseen policy (``unseen_policy``, resolved
    from "auto") the figures come from.
    """

    auc_all: float
    auc_seen: float
    auc_unseen: float
    hit_rate: float
    ndcg: float
    hit_rate_seen: float
    ndcg_seen: float
    k: int
    counts: dict[str, int]
    curves: dict[str, pd.DataFrame]
    settings: dict[str, Any]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    by_bucket: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=list(BUCKET_COLUMNS))
    )

    @property
    def part(self) -> str | None:
        """ "test" or "validation": the split part these figures come from."""
        return self.info.get("part")

    @property
    def protocol(self) -> str | None:
        """The negative protocol of the evaluated pairs (uniform, degree-matched, ...)."""
        return self.info.get("protocol")

    @property
    def unseen_policy(self) -> str:
        """The unseen policy applied (``"auto"`` resolved for this model)."""
        return str(self.info.get("unseen_policy") or self.settings.get("unseen_policy"))

    def bucket_records(self) -> list[dict[str, Any]]:
        """``by_bucket`` as JSON-able records (NaN as None)."""
        frame = self.by_bucket.astype(object).where(self.by_bucket.notna(), None)
        return frame.to_dict("records")

    def metrics(self) -> dict[str, float]:
        return {
            "auc_all": self.auc_all,
            "auc_seen": self.auc_seen,
            "auc_unseen": self.auc_unseen,
            "hit_rate": self.hit_rate,
            "ndcg": self.ndcg,
            "hit_rate_seen": self.hit_rate_seen,
            "ndcg_seen": self.ndcg_seen,
        }

    def as_row(self) -> dict[str, Any]:
        """The results-table columns (the method's shape)."""
        return {
            "AUC all": self.auc_all,
            "AUC seen": self.auc_seen,
            "AUC unseen": self.auc_unseen,
            f"HitRate@{self.k}": self.hit_rate,
            f"NDCG@{self.k}": self.ndcg,
            f"HitRate@{self.k} seen": self.hit_rate_seen,
            f"NDCG@{self.k} seen": self.ndcg_seen,
        }

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        arrays = {
            f"{name}.{col}": frame[col].to_numpy(np.float64)
            for name, frame in self.curves.items()
            for col in frame.columns
        }
        cache.save_arrays(folder / "curves.npz", **arrays)
        cache.save_json(
            folder / "report.json",
            {
                "metrics": self.metrics(),
                "k": self.k,
                "counts": self.counts,
                "settings": self.settings,
                "info": self.info,
                "curve_columns": {name: list(f.columns) for name, f in self.curves.items()},
                "by_bucket": self.bucket_records(),
            },
        )

    @classmethod
    def load(cls, folder: Path) -> EvalReport:
        folder = Path(folder)
        meta = cache.load_json(folder / "report.json")
        arrays = cache.load_arrays(folder / "curves.npz")
        curves = {
            name: pd.DataFrame({col: arrays[f"{name}.{col}"] for col in cols})
            for name, cols in meta["curve_columns"].items()
        }
        return cls(
            **{k: float(v) for k, v in meta["metrics"].items()},
            k=int(meta["k"]),
            counts=meta["counts"],
            curves=curves,
            settings=meta["settings"],
            info=meta["info"],
            by_bucket=pd.DataFrame(meta["by_bucket"], columns=list(BUCKET_COLUMNS)).astype(
                {c: float for c in BUCKET_COLUMNS if c != "bucket"}
            ),
        )


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
) -> EvalReport:
    """AUCs, curves, ranking metrics and per-bucket metrics of ``embeddings`` on held-out
    pairs.

    Parameters
    ----------
    embeddings:
        Trained vectors (any model; its own ``score_pairs`` scores the pairs).
    val:
        Held-out pairs ``a``, ``b``, ``label`` and optionally ``seen`` (the split's test
        part for reported figures, validation in the method's split).
    seen_products:
        Bool per product: has a train pair (defines seen / unseen pairs).
    settings:
        :class:`EvalSettings`; defaults when None.
    train_graph:
        Train adjacency; its neighbours are filtered out of the ranking candidates and its
        degrees define the popularity buckets (none without it).
    part, protocol:
        Which split part ("test" or "validation") and negative protocol the pairs are;
        recorded in the report's ``info`` so every table can say so.
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
    ranking, query_pairs = _ranking(embeddings, a, b, labels, seen, settings, policy, train_graph)
    ranking_metrics = ranking.metrics() if ranking is not None else {}
    by_bucket = (
        bucket_table(pair_min_degree(train_graph, a, b), scores, labels, ranking, query_pairs)
        if train_graph is not None
        else pd.DataFrame(columns=list(BUCKET_COLUMNS))
    )
    nan = float("nan")
    info = _info(part, protocol, policy, scores, filled, embeddings.score)
    return EvalReport(
        auc_all=rank_auc(scores, labels),
        auc_seen=rank_auc(scores[seen], labels[seen]),
        auc_unseen=rank_auc(scores[~seen], labels[~seen]),
        hit_rate=ranking_metrics.get("hit_rate", nan),
        ndcg=ranking_metrics.get("ndcg", nan),
        hit_rate_seen=ranking_metrics.get("hit_rate_seen", nan),
        ndcg_seen=ranking_metrics.get("ndcg_seen", nan),
        k=settings.ranking_k,
        counts=_counts(labels, seen, filled, ranking),
        curves=_curves(scores, labels, seen, settings.curve_points),
        settings=settings.as_dict(),
        info=info,
        by_bucket=by_bucket,
    )


def _info(
    part: str | None,
    protocol: str | None,
    policy: str,
    scores: np.ndarray,
    filled: np.ndarray,
    score: str,
) -> dict[str, Any]:
    """What the figures are of: part, protocol, policy, and how ranking and buckets work."""
    return {
        "part": part,
        "protocol": protocol,
        "unseen_policy": policy,
        "median_score": float(scores[filled][0]) if filled.any() else None,
        "score": score,
        "ranking": (
            "partner's rank among all products (or a fixed sample plus the partner), "
            "excluding the query, its train neighbours and its other held-out partners; "
            "both directions of each positive; ties count half"
        ),
        "buckets": BUCKET_NOTE,
    }


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
        "ranking_queries": len(ranking.ranks) if ranking is not None else 0,
        "ranking_queries_seen": int(ranking.seen.sum()) if ranking is not None else 0,
        "ranking_candidates": ranking.n_candidates if ranking is not None else 0,
    }


BUCKET_NOTE = (
    "a pair's popularity is the train degree of its rarer product, min(deg a, deg b): a "
    "pair is only as well known as its least known product. unseen: min degree 0 (a "
    "product with no train pair); tail, torso, head: the lower, middle and upper third "
    "of the seen positive pairs by that degree (min_degree_from..min_degree_to, both "
    "inclusive). Each bucket's AUC compares its positives with its negatives; HitRate and "
    "NDCG rank the partners of its positives"
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


def bucket_table(
    min_degree: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    ranking: RankingResult | None = None,
    query_pairs: np.ndarray | None = None,
) -> pd.DataFrame:
    """AUC, HitRate@k and NDCG@k per popularity bucket of the pair (see ``BUCKET_NOTE``).

    ``query_pairs[i]`` is the index (into the evaluated pairs) of ranking query ``i``.
    """
    hits = gains = None
    if ranking is not None and query_pairs is not None:
        hits, gains = ranking.hits(), ranking.gains()
        query_degree = min_degree[query_pairs]
    rows = []
    nan = float("nan")
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
            "hit_rate": nan,
            "ndcg": nan,
        }
        if hits is not None:
            q = (query_degree >= lo) & (query_degree <= hi)
            if q.any():
                row["hit_rate"] = float(hits[q].mean())
                row["ndcg"] = float(gains[q].mean())
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(BUCKET_COLUMNS))
    return frame.astype({c: float for c in BUCKET_COLUMNS if c != "bucket"})


def _ranking(
    embeddings: Embeddings,
    a: np.ndarray,
    b: np.ndarray,
    labels: np.ndarray,
    seen: np.ndarray,
    settings: EvalSettings,
    policy: str,
    train_graph: sp.csr_matrix | None,
) -> tuple[RankingResult | None, np.ndarray | None]:
    """Ranks of the positives' partners, and the pair index of each ranking query."""
    if settings.ranking_queries == 0 or not labels.any():
        return None, None
    n = len(embeddings.trained)
    positives = np.flatnonzero(labels)
    pa, pb, pseen = a[positives], b[positives], seen[positives]
    queries = np.concatenate([pa, pb])
    targets = np.concatenate([pb, pa])
    qseen = np.concatenate([pseen, pseen])
    qpairs = np.concatenate([positives, positives])
    if len(queries) > settings.ranking_queries:
        rng = np.random.default_rng(settings.seed)
        pick = np.sort(rng.choice(len(queries), size=settings.ranking_queries, replace=False))
        queries, targets, qseen, qpairs = queries[pick], targets[pick], qseen[pick], qpairs[pick]
    held_graph = sp.coo_matrix(
        (np.ones(2 * len(pa), dtype=np.float32), (np.r_[pa, pb], np.r_[pb, pa])), shape=(n, n)
    ).tocsr()
    known = held_graph if train_graph is None else (held_graph + train_graph).tocsr()
    known.sort_indices()
    result = rank_partners(
        embeddings,
        queries,
        targets,
        qseen,
        usable_mask(embeddings, policy),
        known,
        k=settings.ranking_k,
        max_candidates=settings.ranking_sample,
        seed=settings.seed,
    )
    return result, qpairs


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
