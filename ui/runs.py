"""The app's view of the job store: runs of the current dataset, their outcomes and indexes.

The job store (SQLite, next to the artifact cache) is the source of truth: a page
re-reads it on every rerun, so a browser refresh reattaches to whatever is running.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from ui import cached

# Material icons for markdown; pickers show plain words (headless browsers and some
# systems have no emoji font).
STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/directions_run:",
    "finished": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "interrupted": ":material/warning:",
}


def jobs() -> Any:
    import recsys_core.jobs as jobs_module

    return jobs_module


def runs_of(prep: Any, statuses: tuple[str, ...] | None = None) -> list[Any]:
    """Runs on the prepared dataset (newest first), optionally only with these statuses."""
    out = []
    for record in jobs().list_runs():
        dataset_key = (record.keys or {}).get("dataset")
        if dataset_key is not None and dataset_key != prep.dataset_key:
            continue
        if dataset_key is None and not _same_dataset(record, prep):
            continue
        if statuses and record.status not in statuses:
            continue
        out.append(record)
    return sorted(out, key=lambda r: -r.id)


def _same_dataset(record: Any, prep: Any) -> bool:
    try:
        return record.run_spec().dataset.key() == prep.dataset_key
    except Exception:
        return False


def label(record: Any, status: bool = True) -> str:
    """``#12 sgns · finished AUC 0.912 (epochs=2)``: how a run is named in pickers.

    ``status=False`` leaves the status out (pickers that only list finished runs).
    """
    text = f"#{record.id} {record.model}" + (f" · {record.status}" if status else "")
    summary = record.summary or {}
    if summary.get("auc_all") is not None:
        text += f" AUC {summary['auc_all']:.3f}"
    params = dict(record.spec.get("model_params") or [])
    if params:
        text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(params.items())[:3]) + ")"
    return text


def short_label(record: Any) -> str:
    """``#12 sgns``: how a run is named in chart legends."""
    return f"#{record.id} {record.model}"


def table(records: list[Any]) -> pd.DataFrame:
    rows = []
    for r in records:
        summary = r.summary or {}
        rows.append(
            {
                "run": r.id,
                "model": r.model,
                "status": r.status,
                # A number in every row: the progress bar column cannot draw a gap.
                "progress": 1.0 if r.status == "finished" else float(r.progress or 0.0),
                "stage": r.progress_message if r.active else "",
                "AUC all": summary.get("auc_all"),
                "AUC seen": summary.get("auc_seen"),
                "started": dt.datetime.fromtimestamp(r.created).strftime("%H:%M:%S"),
                "seconds": round(r.duration, 1) if r.duration is not None else None,
                "error": (r.error or "")[:200],
            }
        )
    return pd.DataFrame(rows)


def outcome(record: Any) -> Any:
    """The finished run's RunOutcome (embeddings, evaluation, events), kept in memory."""
    return cached.memo("outcome", record.key, lambda: jobs().load_outcome(record.id))


def neighbour_index(record: Any) -> Any:
    from recsys_core.explore.similar import NeighbourIndex

    def build() -> Any:
        emb = outcome(record).embeddings
        return NeighbourIndex(np.asarray(emb.vectors), emb.usable)

    return cached.memo("index", record.key, build)


def pick_finished(
    prep: Any,
    key: str,
    multiple: bool = False,
    max_default: int = 3,
    candidates: list[Any] | None = None,
) -> list[Any]:
    """Select box (or multiselect) of the finished runs on this dataset (or of
    ``candidates``: the Evaluate page offers only runs on the same pairs)."""
    # Trained runs first, so defaults never pick the no-training baselines' display vectors.
    finished = sorted(
        runs_of(prep, ("finished",)) if candidates is None else candidates,
        key=lambda r: r.model in ("popularity", "adamic-adar"),
    )

    def name(run_id: int) -> str:
        return label(by_id[run_id], status=False)

    if not finished:
        st.info("No finished run on this dataset yet: start one on the **Train** page.")
        return []
    by_id = {r.id: r for r in finished}
    if multiple:
        chosen = st.multiselect(
            "runs",
            list(by_id),
            default=list(by_id)[:max_default],
            format_func=name,
            key=key,
            max_selections=max_default if max_default else None,
        )
        return [by_id[i] for i in chosen]
    run_id = st.selectbox("run", list(by_id), format_func=name, key=key)
    return [by_id[run_id]] if run_id is not None else []
