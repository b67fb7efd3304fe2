"""Formatting helpers: numbers and tables as a person reads them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from recsys_core.explore.dataset_views import MISSING

SPLIT_LABELS = {
    "train_pairs": "train pairs",
    "train_products": "products in the train graph",
    "negatives": "negative protocol",
    "reported_part": "part the tables report",
    **{
        f"{prefix}_{key}": f"{text} ({part})"
        for prefix, part in (("val", "validation"), ("test", "test"))
        for key, text in (
            ("pairs", "pairs"),
            ("positives", "positives"),
            ("negatives", "negatives"),
            ("pairs_seen_share", "pairs with both products seen"),
            ("products", "products"),
            ("products_unseen", "unseen products"),
            ("products_unseen_share", "share of products unseen"),
        )
    },
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


def seen_mark(seen: Any, cold_start: Any = None) -> str:
    """ "seen", "cold start" (unseen, placed from side information) or "unseen"."""
    if bool(seen):
        return "seen"
    return "cold start" if cold_start is not None and bool(cold_start) else "unseen"


NO_METADATA = "(no metadata)"


def neighbour_table(
    frame: pd.DataFrame, details: pd.DataFrame, compact: bool = False
) -> pd.DataFrame:
    """A neighbours table as people read it: rank, the ASIN (or movie id) always in view,
    the seen / cold-start mark, then title and the dataset's fields, and the similarity.

    A product without metadata says so in its mark and its title. ``compact`` (several
    runs side by side) keeps rank, id, mark, title and similarity. No internal ids.
    """
    out = frame[["rank"]].copy()
    out["asin"] = details["asin"].to_numpy()
    from recsys_core.explore.dataset_views import MISSING as NONE_MARK

    titles = details["title"] if "title" in details else pd.Series([None] * len(details))
    text = titles.astype(str).str.strip()
    missing = titles.isna().to_numpy() | text.isin(["", NONE_MARK]).to_numpy()
    if "seen" in frame:
        cold = frame["cold_start"] if "cold_start" in frame else [None] * len(frame)
        marks = [seen_mark(s, c) for s, c in zip(frame["seen"], cold, strict=True)]
    else:
        marks = [""] * len(frame)
    # Side by side the title column's "(no metadata)" is the mark; the mark column stays
    # short enough for the similarity to fit beside it.
    out["mark"] = [
        " · ".join(x for x in (m, "" if compact or not miss else "no metadata") if x)
        for m, miss in zip(marks, missing, strict=True)
    ]
    for col in details.columns:
        if col == "asin" or (compact and col != "title"):
            continue
        values = details[col].to_numpy()
        out[col] = np.where(missing, NO_METADATA, values) if col == "title" else values
    score = "similarity" if "similarity" in frame.columns else "score"
    out[score] = frame[score].to_numpy()
    return out


def neighbour_columns(compact: bool = False) -> dict[str, Any]:
    """Column config for :func:`neighbour_table`: wide text, a similarity bar; narrower
    title and similarity when runs stand side by side, so each table fits its column."""
    if compact:
        return {
            **neighbour_columns(),
            "rank": st.column_config.NumberColumn("rank", width=40),
            "mark": st.column_config.TextColumn("mark", width=70),
            "title": st.column_config.TextColumn("title", width=170),
            "similarity": st.column_config.NumberColumn("similarity", format="%.3f", width=75),
        }
    return {
        "rank": st.column_config.NumberColumn("rank", width=45),
        "mark": st.column_config.TextColumn(
            "mark",
            width=130,
            help="seen: trained on; cold start: placed from metadata; no metadata: the "
            "catalog has no record for it (only its id)",
        ),
        # Widths that show whole titles, categories and brands of the catalogs here.
        "title": st.column_config.TextColumn("title", width=300),
        "category": st.column_config.TextColumn("category", width=190),
        "brand": st.column_config.TextColumn("brand", width=115),
        "genres": st.column_config.TextColumn("genres", width=260),
        "year": st.column_config.TextColumn("year", width=50),
        "price": st.column_config.TextColumn("price", width=75, alignment="right"),
        "similarity": st.column_config.ProgressColumn(
            "similarity", min_value=-1.0, max_value=1.0, format="%.3f", width=150
        ),
        "score": st.column_config.NumberColumn("score (model's rule)", format="%.4f"),
    }


def dataset_caption(settings: Any) -> str:
    """What the loaded dataset is, in words that match its settings.

    The built-in catalog names each setting with its value and says when a value differs
    from the preset's ("5,000 products (preset: 20,000)"), so a caption never calls a
    changed size the default.
    """
    if settings.source != "synthetic":
        kind = {"movielens": "MovieLens-100k", "amazon": "Amazon metadata"}.get(
            settings.source, settings.source
        )
        from ui.datasets import shown_path

        return f"{kind} from {shown_path(settings.path)}"
    from recsys_core.data.synthetic import PRESETS

    base = PRESETS[settings.preset]
    s = settings.synthetic_settings()

    def part(text: str, value: Any, preset_value: Any, shown: str) -> str:
        if value == preset_value:
            return text
        return f"{text} (preset: {shown})"

    parts = [
        part(f"{s.products:,} products", s.products, base.products, f"{base.products:,}"),
        part(
            f"metadata on {s.meta_coverage:.0%}",
            s.meta_coverage,
            base.meta_coverage,
            f"{base.meta_coverage:.0%}",
        ),
        part(
            f"side signal {s.side_signal:g}",
            s.side_signal,
            base.side_signal,
            f"{base.side_signal:g}",
        ),
        part(f"seed {s.seed}", s.seed, base.seed, str(base.seed)),
    ]
    return f"Built-in catalog, {settings.preset} preset: " + ", ".join(parts)


BELOW_CHANCE = 0.49  # AUC below this (0.5 less noise) is flagged
BELOW_CHANCE_NOTE = (
    "**Below chance** (AUC under 0.5): the model ranks negative pairs above real ones, "
    "which no noise explains at these sizes. The usual cause here is many products "
    'sharing one vector: products without metadata all get the same "missing" '
    "side-information embedding (equal weights at low metadata coverage), so unrelated "
    "products look identical (cosine near 1) while real partners, which differ, score "
    "lower. Early in training the same happens while the vectors are still near their "
    "shared random start."
)


def auc_text(value: Any) -> str:
    """``0.9123``; ``0.2700 · below chance`` under :data:`BELOW_CHANCE`; the dash if none."""
    if _missing(value):
        return MISSING
    text = f"{float(value):.4f}"
    return text + " · below chance" if float(value) < BELOW_CHANCE else text


def flag_aucs(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, bool]:
    """``frame`` with its AUC ``columns`` as text, below-chance values marked in words.

    Returns the frame and whether any value was flagged (then show
    :data:`BELOW_CHANCE_NOTE`).
    """
    out = frame.copy()
    flagged = False
    for col in columns:
        if col not in out:
            continue
        values = pd.to_numeric(out[col], errors="coerce")
        flagged |= bool((values < BELOW_CHANCE).any())
        out[col] = [auc_text(v) for v in values]
    return out, flagged
