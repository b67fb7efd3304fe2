"""The report of one evaluation (:class:`EvalReport`): AUCs, curves, ranking metrics with
their intervals, per-query arrays and per-bucket figures; saved as JSON + npz (no
pickle) and loaded back, including reports saved before the intervals existed. Also the
ranking metrics' names and column labels, and the paired comparison of two reports
(:func:`paired_difference`).

:func:`recsys_core.evaluation.evaluate.evaluate` makes reports; this module holds them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_core.common import cache
from recsys_core.evaluation import intervals
from recsys_core.evaluation.ranking import TOP

# Columns of EvalReport.by_bucket (see recsys_core.evaluation.evaluate.bucket_table).
BUCKET_COLUMNS = (
    "bucket",
    "min_degree_from",
    "min_degree_to",
    "pairs",
    "positives",
    "negatives",
    "auc",
    "queries",
    "hit_rate",
    "ndcg",
    "recall",
    "mrr",
)

CURVE_NAMES = ("roc_all", "roc_seen", "pr_all", "pr_seen")


def metric_label(name: str) -> str:
    """A ranking metric's column label: "ndcg@10" -> "NDCG@10", "mrr_seen" -> "MRR seen"."""
    base, seen = (name[:-5], " seen") if name.endswith("_seen") else (name, "")
    stem, _, k = base.partition("@")
    text = RANKING_LABELS.get(stem, stem)
    return f"{text}@{k}{seen}" if k else f"{text}{seen}"


RANKING_LABELS = {
    "ndcg": "NDCG",
    "hit_rate": "HitRate",
    "recall": "Recall",
    "mrr": "MRR",
    "coverage": "Coverage",
    "popularity": "Popularity",
}


def ranking_order(k: int, k_wide: int) -> list[str]:
    """Ranking metric names in table order: NDCG@k and HitRate@k lead."""
    names = [f"ndcg@{k}", f"hit_rate@{k}", f"recall@{k}", "mrr"]
    if k_wide != k:
        names += [f"ndcg@{k_wide}", f"hit_rate@{k_wide}", f"recall@{k_wide}"]
    return [*names, f"coverage@{TOP}", f"popularity@{TOP}"]


@dataclasses.dataclass
class EvalReport:
    """Metrics and plot data of one evaluation; saved as JSON + npz, no pickle.

    Curves: ``roc_*`` frames have ``fpr``, ``tpr``, ``threshold`` (scikit-learn's
    ``roc_curve``, first threshold +inf); ``pr_*`` frames have ``threshold`` (increasing),
    ``precision``, ``recall`` (``precision_recall_curve`` without its final (1, 0) point).
    Plot precision and recall against ``threshold`` for the method's threshold plot,
    ``precision`` against ``recall`` for the trade-off.

    ``ranking`` maps each ranking metric (``"ndcg@10"``, ``"hit_rate@10"``,
    ``"recall@10"``, ``"mrr"``, the same at 50, ``"coverage@10"``, ``"popularity@10"``, and
    ``*_seen`` over seen queries) to ``[value, low, high]``, its 95% interval
    (:mod:`recsys_core.evaluation.intervals`). ``per_query`` holds the per-query arrays
    behind them (``query`` product ids, ``seen``, one array per metric, ``top`` lists), so
    two runs on the same pairs can be compared query by query later
    (:func:`paired_difference`). ``hit_rate``, ``ndcg`` and their ``_seen`` forms are the
    figures at ``k``, under the names earlier code reads.

    ``by_bucket`` has one row per popularity bucket of the pair (:func:`bucket_table`);
    ``info`` says which part of the split (``part``: "test" or "validation"), which
    negative protocol (``protocol``), which unseen policy (``unseen_policy``, resolved
    from "auto") and which ranking (``ranking``; ``ranking_candidates``: "all products" or
    the sample) the figures come from.
    """

    auc_all: float
    auc_seen: float
    auc_unseen: float
    k: int
    counts: dict[str, int]
    curves: dict[str, pd.DataFrame]
    settings: dict[str, Any]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    by_bucket: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=list(BUCKET_COLUMNS))
    )
    ranking: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    per_query: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    k_wide: int = 50

    def interval(self, name: str) -> intervals.Interval:
        """A ranking metric with its interval (NaN when not measured)."""
        return intervals.Interval.from_list(self.ranking.get(name, []))

    def _value(self, name: str) -> float:
        return self.interval(name).value

    @property
    def hit_rate(self) -> float:
        return self._value(f"hit_rate@{self.k}")

    @property
    def ndcg(self) -> float:
        return self._value(f"ndcg@{self.k}")

    @property
    def hit_rate_seen(self) -> float:
        return self._value(f"hit_rate@{self.k}_seen")

    @property
    def ndcg_seen(self) -> float:
        return self._value(f"ndcg@{self.k}_seen")

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

    @property
    def ranking_candidates(self) -> str:
        """ "all products", or the candidate sample a large catalog was ranked in."""
        return str(self.info.get("ranking_candidates") or "all products")

    def bucket_records(self) -> list[dict[str, Any]]:
        """``by_bucket`` as JSON-able records (NaN as None)."""
        frame = self.by_bucket.astype(object).where(self.by_bucket.notna(), None)
        return frame.to_dict("records")

    def metrics(self) -> dict[str, float]:
        """Flat figures (the job store's summary): the AUCs, ``hit_rate``, ``ndcg`` and
        their ``_seen`` forms at ``k``, and every ranking metric as ``name``,
        ``name_low``, ``name_high``."""
        out = {
            "auc_all": self.auc_all,
            "auc_seen": self.auc_seen,
            "auc_unseen": self.auc_unseen,
            "hit_rate": self.hit_rate,
            "ndcg": self.ndcg,
            "hit_rate_seen": self.hit_rate_seen,
            "ndcg_seen": self.ndcg_seen,
        }
        for name in self.ranking:
            iv = self.interval(name)
            out |= {name: iv.value, f"{name}_low": iv.low, f"{name}_high": iv.high}
        return out

    def as_row(self) -> dict[str, Any]:
        """The results-table columns: NDCG@k and HitRate@k with their 95% intervals
        (``low``, ``high``) first, then Recall@k, MRR, the same at the wide cut-off,
        coverage and popularity of the top-10 lists, then the method's AUCs and the seen
        figures."""
        row: dict[str, Any] = {}
        for name in ranking_order(self.k, self.k_wide):
            iv = self.interval(name)
            label = metric_label(name)
            row[label] = iv.value
            if name in (f"ndcg@{self.k}", f"hit_rate@{self.k}"):
                row[f"{label} low"] = iv.low
                row[f"{label} high"] = iv.high
        row |= {
            "AUC all": self.auc_all,
            "AUC seen": self.auc_seen,
            "AUC unseen": self.auc_unseen,
            f"NDCG@{self.k} seen": self.ndcg_seen,
            f"HitRate@{self.k} seen": self.hit_rate_seen,
        }
        return row

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        arrays = {
            f"{name}.{col}": frame[col].to_numpy(np.float64)
            for name, frame in self.curves.items()
            for col in frame.columns
        }
        cache.save_arrays(folder / "curves.npz", **arrays)
        if self.per_query:
            cache.save_arrays(folder / "queries.npz", **self.per_query)
        cache.save_json(
            folder / "report.json",
            {
                "metrics": {
                    "auc_all": self.auc_all,
                    "auc_seen": self.auc_seen,
                    "auc_unseen": self.auc_unseen,
                },
                "ranking": self.ranking,
                "k": self.k,
                "k_wide": self.k_wide,
                "counts": self.counts,
                "settings": self.settings,
                "info": self.info,
                "curve_columns": {name: list(f.columns) for name, f in self.curves.items()},
                "by_bucket": self.bucket_records(),
            },
        )

    @classmethod
    def load(cls, folder: Path) -> EvalReport:
        """A saved report; one saved before intervals existed keeps its figures at ``k``
        (with no interval) and has no per-query arrays."""
        folder = Path(folder)
        meta = cache.load_json(folder / "report.json")
        arrays = cache.load_arrays(folder / "curves.npz")
        curves = {
            name: pd.DataFrame({col: arrays[f"{name}.{col}"] for col in cols})
            for name, cols in meta["curve_columns"].items()
        }
        k = int(meta["k"])
        figures = meta["metrics"]
        ranking = meta.get("ranking")
        if ranking is None:  # saved by CODE_VERSION 2: figures at k, no intervals
            nan = float("nan")
            old = {"hit_rate": "hit_rate@{k}", "ndcg": "ndcg@{k}"}
            ranking = {}
            for key, name in old.items():
                for suffix in ("", "_seen"):
                    value = figures.get(key + suffix)
                    ranking[name.format(k=k) + suffix] = [
                        nan if value is None else float(value),
                        nan,
                        nan,
                    ]
        per_query_path = folder / "queries.npz"
        per_query = dict(cache.load_arrays(per_query_path)) if per_query_path.exists() else {}
        return cls(
            auc_all=float(figures["auc_all"]),
            auc_seen=float(figures["auc_seen"]),
            auc_unseen=float(figures["auc_unseen"]),
            k=k,
            k_wide=int(meta.get("k_wide", 50)),
            counts=meta["counts"],
            curves=curves,
            settings=meta["settings"],
            info=meta["info"],
            by_bucket=pd.DataFrame(meta["by_bucket"], columns=list(BUCKET_COLUMNS)).astype(
                {c: float for c in BUCKET_COLUMNS if c != "bucket"}
            ),
            ranking={
                name: [float("nan") if v is None else float(v) for v in values]
                for name, values in ranking.items()
            },
            per_query=per_query,
        )


def paired_difference(
    a: EvalReport, b: EvalReport, metric: str, resamples: int = intervals.RESAMPLES
) -> intervals.Interval:
    """Mean per-query difference ``a - b`` of ``metric`` (e.g. "ndcg@10") over the
    queries both reports ranked, with its paired bootstrap interval: "a beats b" only
    when it excludes 0."""
    for report in (a, b):
        if metric not in report.per_query or "query" not in report.per_query:
            raise ValueError(
                f"no per-query {metric} in this evaluation (it was saved before per-query "
                "figures were kept): evaluate the run again"
            )
    x, y = intervals.align(
        a.per_query["query"], a.per_query[metric], b.per_query["query"], b.per_query[metric]
    )
    if not len(x):
        raise ValueError(
            "the two evaluations share no ranking query: compare runs on the same pairs"
        )
    return intervals.paired(x, y, resamples=resamples)
