"""A finished run's top-k lists as a file to download, on the Neighbours page.

The file is the ``recommend`` subcommand's table (:mod:`recsys_core.jobs.recommend`): the
same function builds it, so the CLI and the app write the same rows and columns. Building
it is work, so it happens on a click of "Prepare top-k file" (its estimate beside it);
the download button then serves the bytes kept in this browser session.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from recsys_core.jobs import estimate
from recsys_core.jobs.recommend import FORMATS, recommendations, table_bytes, usable
from ui import jobgate, runs

MAX_K = 100
DEFAULT_K = 20
MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
STATE = "nb.export"


def _title_chars(products: Any) -> float:
    """Average title length on a sample (the file's size depends on it)."""
    if "title" not in products.columns or not len(products):
        return 0.0
    sample = products["title"].iloc[:: max(1, len(products) // 1000)]
    return float(sample.fillna("").astype(str).str.len().mean())


def _size(n: int) -> str:
    return f"{max(1, round(n / 1024))} KB" if n < estimate.MB else estimate.size_text(n)


def draw_topk_download(chosen: list[Any], products: Any, item: str) -> None:
    """Run, k and format boxes, a "Prepare top-k file" button with its estimate, and
    the download once the file for exactly these choices is ready."""
    from recsys_core.explore.topk import use_ann

    st.subheader("Download top-k lists")
    st.caption(
        f"Every {item}'s top-k recommendations by the model's own score (the same table as "
        "`python -m recsys_core recommend --run ID --k K --out FILE`)."
    )
    by_id = {r.id: r for r in chosen}
    left, middle, right = st.columns(3)
    run_id = left.selectbox(
        "run", list(by_id), format_func=lambda i: runs.short_label(by_id[i]), key="nb.export.run"
    )
    k = int(
        middle.number_input(
            "recommendations per product (k)", 1, MAX_K, DEFAULT_K, key="nb.export.k"
        )
    )
    fmt = right.radio("format", FORMATS, horizontal=True, key="nb.export.format")
    exclude = st.checkbox(
        f"leave out each {item}'s train neighbours (only pairs the training did not see)",
        key="nb.export.new",
    )
    record = by_id[run_id]
    outcome = runs.outcome(record)
    emb = outcome.embeddings
    mask = usable(outcome)
    queries = int(np.count_nonzero(mask))
    exact = not use_ann(emb)
    file_bytes = estimate.topk_file_bytes(queries * k, _title_chars(products), fmt)
    dim = int(emb.vectors.shape[1]) if emb.vectors.ndim == 2 else 1
    est = estimate.topk_export(len(mask), queries, k, dim, exact, file_bytes, fmt)
    st.caption(
        f"{queries * k:,} rows ({queries:,} {item}s x {k}), about "
        f"{_size(file_bytes)} as {fmt.upper()}; "
        + ("exact top-k." if exact else "approximate index (faiss IVF), re-scored by the model.")
    )
    wanted = (record.key, k, fmt, exclude)
    if jobgate.draw_start_button("Prepare top-k file", est, key="nb.export.prepare", primary=False):
        st.session_state.pop(STATE, None)  # the old file's bytes go before the new ones come
        with st.spinner(f"Ranking {queries:,} {item}s..."):
            recs = recommendations(outcome, k, exclude_known=exclude)
            data = table_bytes(recs.frame, fmt)
        st.session_state[STATE] = {
            "wanted": wanted,
            "data": data,
            "rows": len(recs.frame),
            "name": f"run{record.id}-top{k}.{fmt}",
        }
    ready = st.session_state.get(STATE)
    if ready and ready["wanted"] == wanted:
        st.download_button(
            f"Download {ready['name']} ({ready['rows']:,} rows, {_size(len(ready['data']))})",
            data=ready["data"],
            file_name=ready["name"],
            mime=MIME[fmt],
            key="nb.export.download",
            on_click="ignore",
            icon=":material/download:",
        )
