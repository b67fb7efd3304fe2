"""The sidebar's "your own file" source: upload an interaction log or a pair file, see its
first rows, and map its columns with select boxes.

Self-contained: the dataset picker calls :func:`draw_own_file_source` for the choice
``"own-file"`` and loads the settings it returns. Uploads are stored in the cache under
their content hash, so an edited file of the same name is a new dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from recsys_core.data import interactions, pairfile
from recsys_core.data.registry import DatasetSettings
from recsys_core.data.tables import guess_columns, preview
from ui import datasets

TYPES = ["csv", "tsv", "txt", "gz", "parquet", "pq"]
NONE = "(none)"
KINDS = {"interactions": "interaction log (user, item, time)", "pairs": "item pairs"}
# Role, label, required: what each kind of file maps.
ROLES = {
    "interactions": (
        ("user", "user column", True),
        ("item", "item column", True),
        ("time", "time column", False),
        ("weight", "weight / rating column", False),
        ("session", "session / basket column", False),
    ),
    "pairs": (
        ("a", "first item column", True),
        ("b", "second item column", True),
        ("weight", "weight column", False),
        ("relation", "relation column", False),
    ),
}
GUESSES = {"interactions": interactions.GUESSES, "pairs": pairfile.GUESSES}


def saved_upload(upload: Any) -> Path:
    """The uploaded table, stored under its content hash with its own suffixes (``.csv``,
    ``.tsv.gz``, ``.parquet``) so its reader knows its kind."""
    suffixes = Path(upload.name).suffixes
    suffix = "".join(suffixes[-2:] if suffixes[-1:] == [".gz"] else suffixes[-1:])
    return datasets.saved_upload(upload, suffix=suffix)


def _draw_column_boxes(kind: str, header: list[str], start: dict[str, str]) -> dict[str, str]:
    guessed = guess_columns(header, GUESSES[kind])
    columns: dict[str, str] = {}
    for role, label, required in ROLES[kind]:
        options = header if required else [NONE, *header]
        default = start.get(role) or guessed.get(role) or (header[0] if required else NONE)
        index = options.index(default) if default in options else 0
        picked = st.selectbox(label, options, index=index, key=f"ds.own.{kind}.{role}")
        if picked != NONE:
            columns[role] = picked
    return columns


def draw_own_file_source(loaded: DatasetSettings) -> DatasetSettings | None:
    """Draw the uploader, preview and column boxes; the settings to load, or None until a
    file is uploaded. A file that is not a table gets one sentence."""
    kind = st.radio(
        "the file holds",
        list(KINDS),
        index=1 if loaded.source == "pairs" else 0,
        format_func=KINDS.get,
        key="ds.own.kind",
        horizontal=True,
    )
    upload = st.file_uploader("upload a CSV, TSV or Parquet file", type=TYPES, key="ds.own.file")
    if upload is None:
        if loaded.source == kind and loaded.path:
            st.caption(f"Loaded: {Path(loaded.path).name}")
            return loaded
        return None
    path = saved_upload(upload)
    try:
        head = preview(path, rows=8)
    except (ValueError, OSError) as exc:
        st.error(str(exc))
        return None
    st.dataframe(head, hide_index=True, height=180)
    start = loaded.column_map() if loaded.source == kind else {}
    columns = _draw_column_boxes(kind, list(head.columns), start)
    extra: dict[str, Any] = {}
    if kind == "interactions":
        rule = st.selectbox(
            "item pairs from",
            ["consecutive", "session"],
            format_func={
                "consecutive": "consecutive items in each user's history",
                "session": "items close together in one session or basket",
            }.get,
            key="ds.own.rule",
        )
        extra["rule"] = rule
        if rule == "session":
            extra["window"] = int(st.number_input("window (steps)", 1, 100, 5, key="ds.own.window"))
    meta = st.file_uploader(
        "item table (optional: id, title, other fields)", type=TYPES, key="ds.own.meta"
    )
    return DatasetSettings(
        source=kind,
        path=str(path),
        columns=tuple(columns.items()),
        item_meta=str(saved_upload(meta)) if meta is not None else None,
        **extra,
    )
