"""Formatting helpers: numbers and tables as a person reads them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SPLIT_LABELS = {
    "train_pairs": "train pairs",
    "val_pairs": "validation pairs",
    "val_positives": "validation positives",
    "val_negatives": "validation negatives",
    "val_pairs_seen_share": "validation pairs with both products seen",
    "val_products": "products in validation",
    "val_products_unseen": "unseen products in validation",
    "val_products_unseen_share": "share of validation products unseen",
    "train_products": "products in the train graph",
}


def number(value: Any) -> str:
    """1,234 for integers, 0.9123 for fractions, 12.3% for shares (keys ending in share)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4f}"
    return str(value)


def split_table(summary: dict[str, float]) -> pd.DataFrame:
    rows = []
    for key, value in summary.items():
        text = f"{value:.1%}" if key.endswith("share") else number(value)
        rows.append({"": SPLIT_LABELS.get(key, key), "value": text})
    return pd.DataFrame(rows)


def percent_columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        out[col] = [f"{v:.1%}" for v in out[col]]
    return out


def minutes(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "–"
    return f"{seconds / 60:.2f}" if seconds >= 60 else f"{seconds:.1f} s"


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    cols = [str(c) for c in frame.columns]

    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "–" if np.isnan(v) else f"{float(v):.{digits}f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
