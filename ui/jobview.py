"""A store job a page waits for (a dataset build, a projection): its progress and Cancel.

The job runs in a worker process; the page draws :func:`draw_job_progress`, a fragment
that re-reads the job's row every second and reruns the whole page once the job ends, so
the page then draws what the job left in the cache. Only the visitor who started the
job may cancel it, unless the operator allows any (``ui/jobgate.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from ui import jobgate


def _jobs() -> Any:
    import recsys_core.jobs as jobs_module

    return jobs_module


def status_text(record: Any) -> str:
    """What the job is doing now, in words."""
    if record.status == "queued":
        return "waiting for a free worker"
    if record.status == "stuck":
        return "stuck: its worker sends no heartbeat (Cancel stops it)"
    pct = f" {record.progress:.0%}" if record.progress_total else ""
    return f"{record.progress_message or 'starting'}{pct}"


def draw_job_progress(job_id: int, what: str, key: str, note: str = "") -> None:
    """``what``'s progress bar with a Cancel button, refreshed every second.

    Reruns the page when the job is no longer queued or running (finished, failed or
    cancelled), so the page draws its result, or its failure, at once.
    """

    @st.fragment(run_every=1.0)
    def panel() -> None:
        try:
            record = _jobs().get_run(job_id)
        except KeyError:  # deleted meanwhile (the CLI): the page asks again
            st.rerun()
            return
        if not record.active:
            st.rerun()
            return
        seconds = f" · {record.duration:.0f} s" if record.duration is not None else ""
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.progress(
            record.progress if record.status == "running" else 0.0,
            text=f"{what} (job #{record.id}): {status_text(record)}{seconds}.{note}",
        )
        allowed = jobgate.may_change(record.id)
        if right.button(
            "Cancel",
            key=f"{key}.cancel.{record.id}",
            disabled=not allowed,
            help=None if allowed else jobgate.NOT_YOURS,
        ):
            _jobs().cancel(record.id)
            st.rerun()

    panel()


def rerun_if_finished_meanwhile(record: Any, ready: Callable[[], bool]) -> None:
    """Rerun the page once when job ``record`` finished after the page looked for its
    result: the page read "not there", the job finished, then the page read the store,
    and without this it would offer to start work that is already done. ``ready`` says
    whether the result is there now; once per job, so a result that cannot be read never
    makes the page rerun in a loop."""
    if record is None or record.status != "finished":
        return
    rechecked = st.session_state.setdefault("jobs.rechecked", set())
    if record.id in rechecked or not ready():
        return
    rechecked.add(record.id)
    st.rerun()


def failure_sentence(record: Any) -> str:
    """One sentence for a job that ended without a result (its first line, no traceback)."""
    if record.status == "cancelled":
        return f"Job #{record.id} ({record.model}) was cancelled."
    first = (record.error or "").strip().partition("\n")[0]
    if not first:
        return f"Job #{record.id} ({record.model}) {record.status}, with no message."
    cause = first if len(first) <= 300 else first[:297] + "..."
    return f"Job #{record.id} ({record.model}) {record.status}: {cause}"
