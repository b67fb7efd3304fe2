"""The results table: one row per trained model, in the method's shape, with baselines.

Columns: model (human label), AUC all, AUC seen, AUC unseen, lift_over_popularity,
HitRate@k, NDCG@k, minutes, then which split part (test / validation), negative protocol,
how pairs were held out (``held_out``: random, or the time split) and unseen policy each
row used, the model's registry name, the dataset and its settings
(JSON), so a table written to CSV or Markdown says what produced it.

``lift_over_popularity`` is a row's AUC all minus the popularity baseline's AUC all on
the same pairs (same dataset, split, part and protocol); blank when the table has no
popularity row for those pairs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from recsys_core.common import cache
from recsys_core.evaluation.evaluate import EvalReport

Entry = tuple[str, str, EvalReport, float, dict[str, Any], str]
METRIC_COLUMNS = ("AUC all", "AUC seen", "AUC unseen")
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
        k = report.k
        rows.append(
            {
                "model": label,
                **{c: row[c] for c in METRIC_COLUMNS},
                "lift_over_popularity": float("nan"),
                f"HitRate@{k}": row[f"HitRate@{k}"],
                f"NDCG@{k}": row[f"NDCG@{k}"],
                "minutes": seconds / 60.0,
                "part": report.part or "",
                "protocol": report.protocol or "",
                # Runs from before the time split existed were all split at random.
                "held_out": report.info.get("split_by") or "random",
                "unseen_policy": report.unseen_policy,
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
SHARED = (("part", "Pairs"), ("protocol", "Negatives"), ("held_out", "Split"))


def to_markdown(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    digits: int = 4,
    title: str | None = None,
) -> str:
    """A GitHub Markdown table of ``df`` (NaN shown as "-").

    By default shows the method's columns, the lift over popularity and the unseen policy;
    the dataset, the split part and the protocol go in a header line when every row shares
    them, and into columns otherwise.
    """
    auto = columns is None
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
