"""The Embedding map's UMAP: a projection job in the run store, started by a click.

The job (``recsys_core.jobs.tasks.ProjectionSpec``) runs in a worker and stores the
projection in the cache, where the page reads it (``stored_projection``); meanwhile the
page draws the instant PCA view. The store deduplicates: the same run and settings give
the same job, whoever clicks. Builds and projections share one lane of worker slots
(``RECSYS_MAX_CONCURRENT``, default 1), so with the default one map is computed at a
time per server and the next waits in the queue.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from recsys_core.jobs import estimate
from ui import jobgate, jobview


def draw_umap_job(record: Any, settings: Any, emb: Any, dim: int, max_points: int) -> bool:
    """The UMAP job of finished run ``record`` with ``settings``: its progress and Cancel
    while it runs (True), else its last failure, if any, and the button that starts it
    (False)."""
    from recsys_core import jobs
    from recsys_core.explore.projection import stored_projection
    from recsys_core.jobs import ProjectionSpec

    spec = ProjectionSpec.of_run(record, settings)
    job = jobs.latest(spec.key())
    if job is not None and job.active:
        jobview.draw_job_progress(
            job.id, "UMAP in the background", "map.umap", note=" Showing PCA meanwhile."
        )
        return True
    jobview.rerun_if_finished_meanwhile(
        job, lambda: stored_projection(record.key, settings) is not None
    )
    if job is not None and job.status != "finished":
        st.warning(f"{jobview.failure_sentence(job)} The PCA view is shown instead.")
    points = min(int(emb.usable.sum()), int(max_points))
    est = estimate.umap(points, dim)
    if job is None:
        st.caption("UMAP is not computed for this run yet; the PCA view is shown.")
    label = "Compute UMAP" if job is None or job.status == "finished" else "Try UMAP again"
    if jobgate.draw_start_button(label, est, "map.umap.start"):
        ids = jobgate.submit(jobs, [spec], [est])
        if ids:
            st.rerun()
    return False
