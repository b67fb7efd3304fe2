"""Runners: what a worker calls to execute one run, and what they hand back.

Model runs go to a runner chosen here; dataset builds and projections to their own
(:mod:`.tasks`, see :func:`runner_for`). The default model runner is
:func:`pipeline_runner`, i.e. ``pipeline.run(spec, on_progress, callback)``. Tests and
extensions can swap it: ``RECSYS_JOBS_RUNNER=module:function`` or
``path/to/file.py:function``, called as ``function(spec_dict, on_progress, callback)``
and returning a :class:`JobResult`; an optional ``function.expected_dirs(spec_dict)``
names the cache folders it will read, so the worker can check them first. The variable
names code the operator chose to run; it is never read from the store or from data.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUNNER_ENV = "RECSYS_JOBS_RUNNER"

# The executing worker's hook for :func:`placed`, per thread (a Ray worker drives several
# runs at once, one thread each).
_PLACEMENT = threading.local()


class Cancelled(Exception):
    """Raised inside a run's stage when the run was cancelled."""


class JobFailed(Exception):
    """A job failed for a reason its user can act on: the message is the whole error
    (one sentence, no class name or traceback)."""


@dataclasses.dataclass
class JobResult:
    """What a runner hands back to the worker.

    Attributes
    ----------
    summary:
        Figures for the results table (JSON-able).
    keys:
        Artifact keys by kind (``RunOutcome.keys``).
    artifact_dirs:
        Cache folders the run produced or used; their files are checksummed.
    cancelled:
        True when training stopped on request.
    """

    summary: dict[str, Any] | None = None
    keys: dict[str, str] = dataclasses.field(default_factory=dict)
    artifact_dirs: list[Path] = dataclasses.field(default_factory=list)
    cancelled: bool = False


Runner = Callable[[dict[str, Any], Any, Any], JobResult]


def placed(executor: str, host: str | None) -> None:
    """A runner says where its run executes (e.g. the Ray node); the run's row records it.

    Called on the thread that runs the runner; a no-op outside a worker.
    """
    hook = getattr(_PLACEMENT, "hook", None)
    if hook is not None:
        hook(executor, host)


def set_placement_hook(hook: Callable[[str, str | None], None] | None) -> None:
    """The worker's side of :func:`placed`, for the current thread."""
    _PLACEMENT.hook = hook


def pipeline_runner(spec: dict[str, Any], on_progress: Any, callback: Any) -> JobResult:
    """Run the full pipeline for a stored :class:`RunSpec` dict."""
    from recsys_core import pipeline
    from recsys_core.common import cache
    from recsys_core.jobs.specs import spec_from_dict, summary_of

    outcome = pipeline.run(spec_from_dict(spec), on_progress=on_progress, callback=callback)
    if outcome.cancelled:
        return JobResult(cancelled=True, keys=outcome.keys)
    return JobResult(
        summary=summary_of(outcome),
        keys=dict(outcome.keys),
        artifact_dirs=[cache.artifact_dir(kind, key) for kind, key in outcome.keys.items()],
    )


def _pipeline_expected_dirs(spec: dict[str, Any]) -> list[Path]:
    """The cache folders a RunSpec will load from or write to, computed from keys alone."""
    from recsys_core.common import cache
    from recsys_core.jobs.specs import spec_from_dict
    from recsys_core.models.registry import model_class

    run_spec = spec_from_dict(spec)
    dataset_key = run_spec.dataset.key()
    split_key = run_spec.split.key(dataset_key)
    dirs = [
        cache.artifact_dir("dataset", dataset_key),
        cache.artifact_dir("split", split_key),
        cache.artifact_dir("run", run_spec.key(split_key)),
    ]
    if model_class(run_spec.model).uses_walks:
        dirs.append(cache.artifact_dir("walks", run_spec.walk_settings().key(split_key)))
    return dirs


pipeline_runner.expected_dirs = _pipeline_expected_dirs  # type: ignore[attr-defined]


def runner_for(kind: str) -> Runner:
    """The runner of a job of ``kind``: model runs go to :func:`resolve_runner`, builds
    and projections to their own (:mod:`.tasks`)."""
    from recsys_core.jobs.store import MODEL

    if kind == MODEL:
        return resolve_runner()
    from recsys_core.jobs.tasks import RUNNERS

    return RUNNERS[kind]


def expected_dirs(kind: str, spec: dict[str, Any]) -> list[Path]:
    """The cache folders a job of ``kind`` will read or write ([] when its runner does not
    say)."""
    expected = getattr(runner_for(kind), "expected_dirs", None)
    return list(expected(spec)) if expected is not None else []


def resolve_runner() -> Runner:
    """The runner named by ``$RECSYS_JOBS_RUNNER``, else :func:`pipeline_runner`."""
    target = os.environ.get(RUNNER_ENV)
    if not target:
        return pipeline_runner
    module_name, _, func_name = target.rpartition(":")
    if not module_name or not func_name:
        raise ValueError(f"{RUNNER_ENV} must look like module:function, got {target!r}")
    if module_name.endswith(".py"):
        spec = importlib.util.spec_from_file_location("recsys_jobs_runner", module_name)
        if spec is None or spec.loader is None:
            raise ValueError(f"{RUNNER_ENV}: cannot load {module_name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    return getattr(module, func_name)
