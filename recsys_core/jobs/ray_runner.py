"""A runner that executes one run as a Ray actor; the run store stays on this host.

The worker process on the app's host (:mod:`.ray_worker`) claims a run from the SQLite
store as always and calls :func:`ray_runner` instead of running the pipeline itself.
The actor runs the ordinary runner (:func:`~recsys_core.jobs.runners.resolve_runner`)
on a Ray worker; its stage progress and training events are buffered there and drained
by this side every quarter second into the worker's :class:`~.worker.Reporter`, which
writes them to the store exactly as for a local run. So the Train page's live curves,
cancel, and the statuses are the same:

* cancel, in any phase or while waiting for a free Ray worker: the store's cancel flag
  makes the reporter raise :class:`~.runners.Cancelled` here at the next report (or the
  events' callback return True, which sets the actor's own flag); the actor is killed
  and the run ends ``cancelled``;
* the Ray worker process dies (killed, out of memory, node lost): ``failed`` with the
  reason; a stop signal to the worker on the app's host: ``interrupted`` (its handler);
* an error inside the run: ``failed`` with the same message as a local run.

Artifacts are written by the actor into ``RECSYS_CACHE_DIR``, which must be storage
every Ray node sees at the same path: before each run the actor reads a marker file
this side just wrote there, and the run fails with a clear message when it cannot.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from recsys_core.jobs.runners import Cancelled, JobResult, placed

log = logging.getLogger(__name__)

RUN_CPUS_ENV = "RECSYS_RAY_RUN_CPUS"
POLL_SECONDS = 0.25
CHECK_DIR = ".cluster-check"
# Variables the actor must not inherit: it runs the pipeline itself, never a nested Ray
# executor, and the store is this host's.
_NOT_FORWARDED = ("RECSYS_RAY_ADDRESS", "RECSYS_RUNS_DB")


class StorageError(RuntimeError):
    """A Ray worker cannot see the artifact cache."""


def run_cpus() -> float:
    """CPUs one run asks Ray for (``RECSYS_RAY_RUN_CPUS``, default 1)."""
    return float(os.environ.get(RUN_CPUS_ENV, "1"))


def forwarded_env() -> dict[str, str]:
    """The settings a run reads from its environment, for the actor."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if (k.startswith("RECSYS_") or k.startswith("NUMBA_")) and k not in _NOT_FORWARDED
    }
    from recsys_core.common import cache

    keep[cache.CACHE_ENV] = str(cache.cache_root())
    return keep


class RunActor:
    """Executes one run on a Ray worker (created with ``max_concurrency`` 3: ``run``,
    ``drain`` and ``cancel`` are served on separate threads)."""

    def __init__(self, env: dict[str, str]) -> None:
        os.environ.update(env)
        self._cancel = threading.Event()
        self._items: deque = deque()

    def node(self) -> str:
        import ray

        return ray.util.get_node_ip_address()

    def check_storage(self, path: str, content: str) -> str | None:
        """None when ``path`` holds ``content`` here; else what this node sees instead."""
        try:
            found = Path(path).read_text()
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if found == content else "a different file (another cache at that path)"

    def cancel(self) -> None:
        self._cancel.set()

    def drain(self) -> list[tuple[str, Any]]:
        """Everything reported since the last call, in order."""
        items = []
        while True:
            try:
                items.append(self._items.popleft())
            except IndexError:
                return items

    def run(self, spec: dict[str, Any]) -> JobResult:
        import ray

        from recsys_core.jobs.runners import resolve_runner

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        try:
            import numba

            numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, int(cpus))))
        except (ImportError, ValueError):
            pass

        def on_progress(done: float, total: float, message: str) -> None:
            self._items.append(("progress", (float(done), float(total), str(message))))
            if self._cancel.is_set():  # as the local Reporter: any phase
                raise Cancelled(f"cancelled during: {message}")

        def on_event(event: Any) -> bool:
            self._items.append(("event", event))
            return self._cancel.is_set()

        return resolve_runner()(spec, on_progress, on_event)


def _remote_actor_class() -> Any:
    import ray

    return ray.remote(RunActor)


def _write_marker() -> tuple[Path, str]:
    from recsys_core.common import cache

    folder = cache.cache_root() / CHECK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    content = uuid.uuid4().hex
    path = folder / f"{content}.txt"
    path.write_text(content)
    return path, content


def _wait(ray: Any, ref: Any, on_progress: Any, message: str) -> Any:
    """Wait for ``ref``, reporting ``message`` (so a cancel request is seen)."""
    while True:
        ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
        if ready:
            return ray.get(ref)
        on_progress(0, 1, message)


def _unwrap(exc: BaseException) -> BaseException:
    """The run's own exception out of Ray's wrapper (same message as a local run)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def ray_runner(spec: dict[str, Any], on_progress: Any, callback: Any) -> JobResult:
    """Execute ``spec`` on Ray; report and cancel through this host's reporter."""
    from recsys_core import cluster
    from recsys_core.common import cache

    ray = cluster.connect()
    from ray.exceptions import RayActorError, RayTaskError

    on_progress(0, 1, "waiting for a Ray worker")
    actor = (
        _remote_actor_class()
        .options(num_cpus=run_cpus(), max_concurrency=3, max_restarts=0)
        .remote(forwarded_env())
    )
    marker, content = _write_marker()
    try:
        try:
            problem = _wait(
                ray,
                actor.check_storage.remote(str(marker), content),
                on_progress,
                "waiting for a Ray worker",
            )
            node = ray.get(actor.node.remote(), timeout=60)
        finally:
            marker.unlink(missing_ok=True)
        if problem is not None:
            raise StorageError(
                f"RECSYS_CACHE_DIR={cache.cache_root()} is not shared with the Ray worker "
                f"on {node}: it cannot read {marker} ({problem}). On a cluster the artifact "
                "cache must be storage every node mounts at the same path (e.g. NFS); "
                "see docs/scaling.md"
            )
        log.info("run on Ray node %s", node)
        placed("ray", node)
        ref = actor.run.remote(spec)
        cancel_sent = False
        last_progress: tuple[float, float, str] | None = None
        while True:
            ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
            for kind, payload in ray.get(actor.drain.remote(), timeout=60):
                if kind == "progress":
                    last_progress = payload
                    on_progress(*payload)
                elif callback(payload) and not cancel_sent:
                    actor.cancel.remote()
                    cancel_sent = True
            if ready:
                break
            if last_progress is not None:
                on_progress(*last_progress)  # raises Cancelled once a cancel is requested
        try:
            return ray.get(ref)
        except RayTaskError as exc:
            raise _unwrap(exc) from None
    except RayActorError as exc:
        raise RuntimeError(
            f"the Ray worker process running this run died ({type(exc).__name__}): it was "
            "killed, ran out of memory or lost its node. Restart the run to try again."
        ) from None
    except Cancelled:
        raise
    finally:
        ray.kill(actor, no_restart=True)


def _expected_dirs(spec: dict[str, Any]) -> list[Path]:
    from recsys_core.jobs.runners import resolve_runner

    expected = getattr(resolve_runner(), "expected_dirs", None)
    return list(expected(spec)) if expected is not None else []


ray_runner.expected_dirs = _expected_dirs  # type: ignore[attr-defined]
