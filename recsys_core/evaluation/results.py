"""The results table: one row per trained model, with the baselines.

Columns: model (human label); the ranking metrics, led by NDCG@10 and HitRate@10 with
their 95% intervals (``low``, ``high``), then Recall@10, MRR, the same at 50, coverage and
popularity of the top-10 lists (:mod:`recsys_core.evaluation.ranking`); beside them the
method's AUC all, lift_over_popularity, AUC seen and AUC unseen; minutes; then which split
part (test / validation), negative protocol, how pairs were held out (``held_out``: random,
or the time split), unseen policy and ranking candidates ("all products" or a stated
sample) each row used, the model's registry name, the dataset and its settings (JSON), so
a table written to CSV or Markdown says what produced it.

``lift_over_popularity`` is a row's AUC all minus the popularity baseline's AUC all on
the same pairs (same dataset, split, part and protocol); blank when the table has no
popularity row for those pairs. Markdown shows an interval as ``value ± half-width``
(the larger side of the percentile interval).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from recsys_core.common import cache
from recsys_core.evaluation.report import EvalReport

Entry = tuple[str, str, EvalReport, float, dict[str, Any], str]
AUC_COLUMNS = ("AUC all", "AUC seen", "AUC unseen")
# The suffixes of a figure's interval columns ("NDCG@10 low", "NDCG@10 high").
LOW, HIGH = " low", " high"
POPULARITY = "popularity"
# What makes two rows comparable: the same pairs under the same protocol.
GROUP_COLUMNS = ("dataset", "split", "part", "protocol")


def results_table(entries: Iterable[Entry]) -> pd.DataFrame:
    """DataFrame of results from ``(name, label, report, train_seconds, settings, dataset)``.

    Rows keep the order given; ``settings`` is stored as sorted JSON text.
    """
    rows = []
    for name, label, report, seconds, settings, dataset in entries:
        row = report.as_row()
        ranking = {c: v for c, v in row.items() if c not in AUC_COLUMNS and " seen" not in c}
        rows.append(
            {
                "model": label,
                **ranking,
                "AUC all": row["AUC all"],
                "lift_over_popularity": float("nan"),
                "AUC seen": row["AUC seen"],
                "AUC unseen": row["AUC unseen"],
                "minutes": seconds / 60.0,
                "part": report.part or "",
                "protocol": report.protocol or "",
                # Runs from before the time split existed were all split at random.
                "held_out": report.info.get("split_by") or "random",
                "unseen_policy": report.unseen_policy,
                "ranking": report.ranking_candidates,
                "name": name,
                "dataset": dataset,
                "split": report.info.get("split_key") or "",
                "settings": json.dumps(settings, sort_keys=True, default=str),
            }
        )
    return add_lift(pd.DataFrame(rows))


def add_lift(df: pd.DataFrame) -> pd.DataFrame:
    """Fill ``lift_over_popularity``: AUC all minus popularity's within each group of
    comparable rows (:data:`GROUP_COLUMNS`)."""
    if df.empty:
        return df
    df = df.copy()
    for _, group in df.groupby(list(GROUP_COLUMNS), sort=False, dropna=False):
        base = group[group["name"] == POPULARITY]
        if len(base):
            df.loc[group.index, "lift_over_popularity"] = group["AUC all"] - float(
                base["AUC all"].iloc[0]
            )
    return df


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


HIDDEN = ("name", "settings", "dataset", "split")
SHARED = (
    ("part", "Pairs"),
    ("protocol", "Negatives"),
    ("held_out", "Split"),
    ("ranking", "Ranked among"),
)


def fold_intervals(df: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """``df`` with each ``X low`` / ``X high`` pair folded into X's cell as text,
    ``value ± half-width``; the low and high columns dropped."""
    out = df.copy()
    for column in df.columns:
        low, high = f"{column}{LOW}", f"{column}{HIGH}"
        if low not in df or high not in df:
            continue
        out[column] = [
            _with_interval(v, lo, hi, digits)
            for v, lo, hi in zip(df[column], df[low], df[high], strict=True)
        ]
        out = out.drop(columns=[low, high])
    return out


def _with_interval(value: Any, low: Any, high: Any, digits: int) -> str:
    def missing(x: Any) -> bool:
        return x is None or (isinstance(x, float) and math.isnan(x))

    if missing(value):
        return "-"
    if missing(low) or missing(high):
        return f"{value:.{digits}f}"
    half = max(high - value, value - low)
    return f"{value:.{digits}f} ± {half:.{digits}f}"


def to_markdown(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    digits: int = 4,
    title: str | None = None,
) -> str:
    """A GitHub Markdown table of ``df`` (NaN shown as "-").

    By default shows the ranking metrics (intervals as ``± half-width``), the AUCs, the
    lift over popularity and the unseen policy; the dataset, the split part, the protocol
    and the ranking candidates go in a header line when every row shares them, and into
    columns otherwise.
    """
    auto = columns is None
    df = fold_intervals(df, digits)
    if columns is None:
        columns = [c for c in df.columns if c not in HIDDEN]
    columns = list(columns)
    lines = []
    if title:
        lines += [title, ""]
    if "dataset" in df and df["dataset"].nunique() == 1:
        lines += [f"Dataset: {df['dataset'].iloc[0]}", ""]
    elif "dataset" in df and "dataset" not in columns:
        columns = [*columns, "dataset"]
    shared = []
    for column, label in SHARED:
        if auto and column in df and df[column].nunique() == 1 and df[column].iloc[0]:
            shared.append(f"{label}: {df[column].iloc[0]}")
            columns.remove(column)
    if shared:
        lines += ["; ".join(shared), ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(_cell(row[c], digits) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def save_results(df: pd.DataFrame, path: Path) -> Path:
    """Write the table as CSV (all columns, settings included), atomically."""
    path = Path(path)
    with cache.atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path
