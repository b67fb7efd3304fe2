"""An item metadata table (id, title, categorical and numeric fields) as catalog columns.

Known names land in the catalog's own columns (title, brand, price, category ->
``cat_1``..``cat_4``); every other column becomes a side field: text columns as they
are, numeric ones as their decile ("q1".."q10", the raw number kept beside it), so
side-information models see a handful of values rather than one per number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys_core.data.dataset import CATALOG_COLUMNS, LoadReport
from recsys_core.data.tables import duplicate_rows, numbers, read_table, skip_rows

ID_GUESSES = ("item", "item_id", "itemid", "id", "product_id", "sku", "asin", "movieid")
TITLE_GUESSES = ("title", "name", "product_name", "movie_title")
CATEGORY_NAMES = ("category", "categories", "cat", "genre", "genres")
MAX_CATEGORY_LEVELS = 4
_NUMERIC_SHARE = 0.9  # a column whose filled values are at least this share numbers is numeric


def _category_levels(values: np.ndarray) -> list[np.ndarray]:
    """``"A > B > C"`` or ``"A|B"`` paths split into up to four levels (missing = None)."""
    series = pd.Series(values, dtype=object).str.replace("|", ">", regex=False)
    parts = series.str.split(">", n=MAX_CATEGORY_LEVELS - 1, expand=True)
    levels = []
    for i in range(MAX_CATEGORY_LEVELS):
        col = parts[i] if i in parts.columns else pd.Series([None] * len(series), dtype=object)
        col = col.astype(object).where(col.notna(), None)
        stripped = [v.strip() if isinstance(v, str) and v.strip() else None for v in col]
        levels.append(np.asarray(stripped, dtype=object))
    return levels


def load_item_meta(
    path: str | Path,
    report: LoadReport,
    id_col: str | None = None,
    also_try: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The metadata table at ``path``, one row per item id, and the side fields it adds.

    The id column is ``id_col``, else the first of ``also_try`` (the log's item column)
    and common names that the table has. Rows with an empty id or an id seen before are
    skipped into ``report`` (their reasons name the file). Returns a frame indexed by the
    id text with catalog columns (those the table has) and extra fields, and the names of
    the side fields.
    """
    path = Path(path).expanduser()
    sub = LoadReport(source=str(path))
    table = read_table(
        path,
        {"id": id_col},
        ("id",),
        {"id": "--item-meta-id-col"},
        sub,
        "item metadata table",
        guesses={"id": tuple(n.lower() for n in also_try if n) + ID_GUESSES},
        keep_all=True,
    )
    for line, reason in sub.skipped_examples:
        report.skip(line, f"{path.name}: {reason}")
    report.skipped += sub.skipped - len(sub.skipped_examples)
    table = skip_rows(table, table.columns["id"] == "", f"{path.name}: empty item id", report)
    dup, first = duplicate_rows(table, ("id",))
    table = skip_rows(
        table, dup, lambda i: f"{path.name}: item id repeats {table.row_word} {first[i]}", report
    )

    frame = pd.DataFrame(index=pd.Index(table.columns["id"], name="item"))
    side: list[str] = []
    for key, values in table.columns.items():
        if not key.startswith("field:"):
            continue
        field = key.removeprefix("field:")
        name = field.lower()
        filled = values != ""
        if name in TITLE_GUESSES and "title" not in frame:
            frame["title"] = np.where(filled, values, None)
        elif name == "brand":
            frame["brand"] = np.where(filled, values, None)
            side.append("brand")
        elif name == "price":
            frame["price"] = numbers(values)
            side.append("price")
        elif name in CATEGORY_NAMES and "cat_1" not in frame:
            for level, column in enumerate(_category_levels(np.where(filled, values, None))):
                frame[f"cat_{level + 1}"] = column
            side += ["cat_1", "cat_2", "cat_3"]
        else:
            if field in CATALOG_COLUMNS or field in frame:
                continue
            as_number = numbers(values)
            if filled.any() and np.isfinite(as_number[filled]).mean() >= _NUMERIC_SHARE:
                frame[field] = as_number
                frame[f"{field} decile"] = _deciles(as_number)
                side.append(f"{field} decile")
            else:
                frame[field] = np.where(filled, values, None)
                side.append(field)
    return frame, tuple(side)


def _deciles(values: np.ndarray) -> np.ndarray:
    out = np.full(len(values), None, dtype=object)
    ok = np.isfinite(values)
    if ok.any():
        edges = np.unique(np.quantile(values[ok], np.linspace(0.1, 0.9, 9)))
        out[ok] = [f"q{int(k) + 1}" for k in np.searchsorted(edges, values[ok], side="right")]
    return out


def catalog(tokens: np.ndarray, meta: pd.DataFrame | None) -> pd.DataFrame:
    """Catalog rows for item ``tokens`` (in order), joined with ``meta`` where it has them.

    ``asin`` holds the item id text; columns the metadata lacks stay None / NaN.
    """
    n = len(tokens)
    frame = pd.DataFrame({"asin": pd.Series(list(tokens), dtype=object)})
    position = meta.index.get_indexer(tokens) if meta is not None else np.full(n, -1)
    has = position >= 0
    for column in CATALOG_COLUMNS[1:]:
        if meta is not None and column in meta:
            values = meta[column].to_numpy()[np.maximum(position, 0)]
            if column == "price":
                frame[column] = np.where(has, values.astype(np.float64), np.nan)
            else:
                frame[column] = pd.Series(np.where(has, values, None), dtype=object)
        elif column == "price":
            frame[column] = np.full(n, np.nan)
        else:
            frame[column] = pd.Series([None] * n, dtype=object)
    if meta is not None:
        for column in meta.columns:
            if column in CATALOG_COLUMNS:
                continue
            values = meta[column].to_numpy()[np.maximum(position, 0)]
            if values.dtype.kind == "f":
                frame[column] = np.where(has, values, np.nan)
            else:
                frame[column] = pd.Series(np.where(has, values, None), dtype=object)
    frame["has_meta"] = has
    return frame
