"""Evaluation of trained embeddings on the validation pairs.

AUC-ROC over all pairs, over pairs whose two products were seen in training, and over the
pairs that involve an unseen product; the data behind the method's plots (ROC curve,
precision and recall versus threshold, precision-recall trade-off) as plain frames; and
ranking metrics (HitRate@k, NDCG@k, see :mod:`recsys_core.evaluation.ranking`).

Unseen policies (what a pair gets when a product has no usable vector):

- ``"median"`` (the method's): pairs with a product that was not *trained* get the median
  score of the other pairs. Many pairs then share one score, which is the "cliff" in the
  precision/recall-versus-threshold curves.
- ``"cold-start"``: cold-start vectors (side-information models) count as usable; the
  median for the rest.
- ``"random"``: score whatever vector is there (zeros for gensim, which score 0; random
  initial vectors for the PyTorch models, like the original code).

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
from recsys_core.evaluation.auc import rank_auc
from recsys_core.evaluation.ranking import rank_partners
from recsys_core.models.base import Embeddings, TrainEvent

UNSEEN_POLICIES = ("median", "cold-start", "random")


@dataclasses.dataclass(frozen=True)
class EvalSettings(Settings):
    """How embeddings are evaluated.

    Parameters
    ----------
    unseen_policy:
        "median" (the method's), "cold-start" or "random"; see the module notes.
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

    unseen_policy: str = "median"
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
        )


def usable_mask(embeddings: Embeddings, policy: str) -> np.ndarray:
    """Products whose vector may be scored under ``policy``."""
    if policy == "median":
        return np.asarray(embeddings.trained, dtype=bool)
    if policy == "cold-start":
        return np.asarray(embeddings.usable, dtype=bool)
    return np.ones(len(embeddings.trained), dtype=bool)


def pair_scores(
    embeddings: Embeddings, a: np.ndarray, b: np.ndarray, policy: str = "median"
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
) -> EvalReport:
    """AUCs, curves and ranking metrics of ``embeddings`` on validation pairs.

    Parameters
    ----------
    embeddings:
        Trained vectors (any model; its own ``score_pairs`` scores the pairs).
    val:
        Validation pairs ``a``, ``b``, ``label`` and optionally ``seen``.
    seen_products:
        Bool per product: has a train pair (defines seen / unseen pairs).
    settings:
        :class:`EvalSettings`; defaults when None.
    train_graph:
        Train adjacency; its neighbours are filtered out of the ranking candidates.
    """
    settings = settings or EvalSettings()
    embeddings = scoring_view(embeddings)
    seen_products = np.asarray(seen_products, dtype=bool)
    a = val["a"].to_numpy(np.int64)
    b = val["b"].to_numpy(np.int64)
    labels = val["label"].to_numpy().astype(bool)
    seen = (
        val["seen"].to_numpy().astype(bool)
        if "seen" in val
        else seen_products[a] & seen_products[b]
    )
    scores, filled = pair_scores(embeddings, a, b, settings.unseen_policy)

    points = settings.curve_points
    curves = {
        "roc_all": roc_frame(scores, labels, points),
        "roc_seen": roc_frame(scores[seen], labels[seen], points),
        "pr_all": pr_frame(scores, labels, points),
        "pr_seen": pr_frame(scores[seen], labels[seen], points),
    }
    ranking = _ranking(embeddings, a, b, labels, seen, settings, train_graph)
    ranking_metrics = ranking.metrics() if ranking is not None else {}
    nan = float("nan")
    counts = {
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
    info = {
        "unseen_policy": settings.unseen_policy,
        "median_score": float(scores[filled][0]) if filled.any() else None,
        "score": embeddings.score,
        "ranking": (
            "partner's rank among all products (or a fixed sample plus the partner), "
            "excluding the query, its train neighbours and its other validation partners; "
            "both directions of each positive; ties count half"
        ),
    }
    return EvalReport(
        auc_all=rank_auc(scores, labels),
        auc_seen=rank_auc(scores[seen], labels[seen]),
        auc_unseen=rank_auc(scores[~seen], labels[~seen]),
        hit_rate=ranking_metrics.get("hit_rate", nan),
        ndcg=ranking_metrics.get("ndcg", nan),
        hit_rate_seen=ranking_metrics.get("hit_rate_seen", nan),
        ndcg_seen=ranking_metrics.get("ndcg_seen", nan),
        k=settings.ranking_k,
        counts=counts,
        curves=curves,
        settings=settings.as_dict(),
        info=info,
    )


def _ranking(
    embeddings: Embeddings,
    a: np.ndarray,
    b: np.ndarray,
    labels: np.ndarray,
    seen: np.ndarray,
    settings: EvalSettings,
    train_graph: sp.csr_matrix | None,
):
    if settings.ranking_queries == 0 or not labels.any():
        return None
    n = len(embeddings.trained)
    pa, pb, pseen = a[labels], b[labels], seen[labels]
    queries = np.concatenate([pa, pb])
    targets = np.concatenate([pb, pa])
    qseen = np.concatenate([pseen, pseen])
    if len(queries) > settings.ranking_queries:
        rng = np.random.default_rng(settings.seed)
        pick = np.sort(rng.choice(len(queries), size=settings.ranking_queries, replace=False))
        queries, targets, qseen = queries[pick], targets[pick], qseen[pick]
    val_graph = sp.coo_matrix(
        (np.ones(2 * len(pa), dtype=np.float32), (np.r_[pa, pb], np.r_[pb, pa])), shape=(n, n)
    ).tocsr()
    known = val_graph if train_graph is None else (val_graph + train_graph).tocsr()
    known.sort_indices()
    return rank_partners(
        embeddings,
        queries,
        targets,
        qseen,
        usable_mask(embeddings, settings.unseen_policy),
        known,
        k=settings.ranking_k,
        max_candidates=settings.ranking_sample,
        seed=settings.seed,
    )


def scoring_view(embeddings: Embeddings) -> Embeddings:
    """The embeddings with their model's own scoring, also after a generic ``load``.

    ``Embeddings.load`` returns the base class; models whose score is not one the base
    class knows (the Adamic-Adar heuristic, MF with separate context vectors) keep what
    they need in ``extras`` and are rebuilt here into their scoring subclass.
    """
    if type(embeddings) is not Embeddings:
        return embeddings
    if embeddings.score == "adamic-adar":
        from recsys_core.models.heuristic import AdamicAdarEmbeddings

        return AdamicAdarEmbeddings.from_embeddings(embeddings)
    if embeddings.score == "dot-sigmoid" and "context" in embeddings.extras:
        from recsys_core.models.mf import MFEmbeddings

        return MFEmbeddings.from_embeddings(embeddings)
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
