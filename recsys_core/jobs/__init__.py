"""Background runs that survive browser refreshes, crashes and restarts.

Model runs, dataset builds and projections are all jobs of one store (``kind`` tells
them apart; see :mod:`.tasks`). Runs execute in worker processes (:mod:`.worker`); their
settings, status, progress, per-step metrics and artifact checksums live in a SQLite
run store (:mod:`.store`) next to the artifact cache. The functions below are the whole
API the app and the CLI use. Cancelling sets a flag in the run's row that the worker
checks in every phase; a worker whose heartbeat stops while its process lives is
reported ``stuck`` (see :mod:`.store`).
"""

from recsys_core.jobs.api import (
    ArtifactError,
    cancel,
    compare,
    default_store,
    delete,
    get_run,
    latest,
    list_runs,
    load_outcome,
    metrics,
    recover,
    restart,
    submit,
    verify,
    wait,
    warm_up,
)
from recsys_core.jobs.runners import Cancelled, JobFailed, JobResult
from recsys_core.jobs.store import KINDS, STATUSES, RunRecord, RunStore
from recsys_core.jobs.tasks import BuildSpec, ProjectionSpec

__all__ = [
    "KINDS",
    "STATUSES",
    "ArtifactError",
    "BuildSpec",
    "Cancelled",
    "JobFailed",
    "JobResult",
    "ProjectionSpec",
    "RunRecord",
    "RunStore",
    "cancel",
    "compare",
    "default_store",
    "delete",
    "get_run",
    "latest",
    "list_runs",
    "load_outcome",
    "metrics",
    "recover",
    "restart",
    "submit",
    "verify",
    "wait",
    "warm_up",
]
