"""Formatting helpers: numbers and tables as a person reads them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from recsys_core.explore.dataset_views import MISSING

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
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4f}"
    return str(value)


def md(text: Any) -> str:
    """``text`` safe inside ``st.markdown``: a "$" would start LaTeX, "*" or "_" emphasis."""
    out = str(text)
    for char in ("\\", "$", "*", "_", "`", "[", "]", "#"):
        out = out.replace(char, "\\" + char)
    return out


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
    """``42.0 s`` under a minute, ``3.25 min`` above; the dash when unknown."""
    if seconds is None or not np.isfinite(seconds):
        return MISSING
    return f"{seconds / 60:.2f} min" if seconds >= 60 else f"{seconds:.1f} s"


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    cols = [str(c) for c in frame.columns]

    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return MISSING if np.isnan(v) else f"{float(v):.{digits}f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def readable(
    frame: pd.DataFrame, formats: dict[str, str] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` ready for ``st.dataframe``: no "None" or "nan" cells, numbers formatted.

    Streamlit draws a missing value as the word "None" whatever the column config says,
    so missing cells become the dash: text columns directly; number columns in
    ``formats`` (a ``str.format`` pattern such as ``"${:,.2f}"``) and float columns with
    gaps become right-aligned text. Returns the frame and the column config to pass.
    """
    formats = dict(formats or {})
    out = frame.copy()
    config: dict[str, Any] = {}
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_bool_dtype(values):
            continue
        numeric = pd.api.types.is_numeric_dtype(values)
        pattern = formats.get(col)
        if numeric and pattern is None:
            if not values.isna().any():
                continue
            pattern = "{:,.0f}" if _whole(values) else "{:.4f}"
        if pattern is not None:
            out[col] = [MISSING if _missing(v) else pattern.format(v) for v in values]
            config[col] = st.column_config.TextColumn(str(col), alignment="right")
        else:
            out[col] = [MISSING if _missing(v) else str(v) for v in values]
    return out, config


def _whole(values: pd.Series) -> bool:
    present = values.dropna().to_numpy(dtype=float)
    return bool(len(present)) and bool(np.all(present == np.round(present)))


def show(
    frame: pd.DataFrame,
    formats: dict[str, str] | None = None,
    column_config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``st.dataframe`` of :func:`readable` ``frame`` (index hidden unless asked)."""
    shown, config = readable(frame, formats)
    config.update(column_config or {})
    kwargs.setdefault("hide_index", True)
    return st.dataframe(shown, column_config=config, **kwargs)
