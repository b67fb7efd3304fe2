"""The results table: one row per trained model, in the method's shape.

Columns: model (human label), AUC all, AUC seen, AUC unseen, HitRate@k, NDCG@k, minutes,
then the model's registry name, the dataset and its settings (JSON), so a table written
to CSV or Markdown says what produced it.
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
                f"HitRate@{k}": row[f"HitRate@{k}"],
                f"NDCG@{k}": row[f"NDCG@{k}"],
                "minutes": seconds / 60.0,
                "name": name,
                "dataset": dataset,
                "unseen_policy": report.settings.get("unseen_policy"),
                "settings": json.dumps(settings, sort_keys=True, default=str),
            }
        )
    return pd.DataFrame(rows)


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    digits: int = 4,
    title: str | None = None,
) -> str:
    """A GitHub Markdown table of ``df`` (NaN shown as "-").

    By default shows the method's columns and, when all rows share one dataset, a header
    line naming it instead of a dataset column.
    """
    if columns is None:
        columns = [c for c in df.columns if c not in ("name", "settings", "dataset")]
    lines = []
    if title:
        lines += [title, ""]
    if "dataset" in df and df["dataset"].nunique() == 1:
        lines += [f"Dataset: {df['dataset'].iloc[0]}", ""]
    elif "dataset" in df and "dataset" not in columns:
        columns = [*columns, "dataset"]
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
