"""The process that executes runs: ``python -m recsys_core.jobs.worker --db PATH``.

A worker claims the oldest queued run (atomically, up to ``max_concurrent`` running at
once), executes it through a *runner* - by default ``pipeline.run(spec, on_progress,
callback)`` - and claims the next until none is left. It then stays idle for
``RECSYS_WORKER_LINGER`` seconds (default 60), so the next run starts without a new
process's imports; submitters see it in the ``idle_workers`` table and start no other.

While a run executes, a background thread (:class:`Reporter`) writes the training
events to the metrics table in batches (every 0.5 s or 50 events) and the stage progress
into the run's row, beats the run's heartbeat every ``RECSYS_HEARTBEAT_SECONDS``
(default 1; :meth:`RunStore.beat`) and polls the run's cancel flag
(:meth:`RunStore.cancel_requested`). The training thread only appends to a queue, so
metric writes cost training almost nothing. The heartbeat comes from that thread, so it
stops when the whole process is frozen or held by code that keeps the GIL; the store
then reports the run ``stuck`` (see :mod:`.store`).

Cancelling is decided by the flag alone, the same way in every phase (prepare, walks,
training, evaluation): once it is set, the next progress report raises
:class:`Cancelled` and the next training event returns True (the model stops at its
next step). Both are called on the run's own thread between steps, never from inside
compiled code or a model's worker threads, so raising there unwinds the run cleanly.
A stage that reports nothing for ``RECSYS_CANCEL_GRACE`` seconds (default 5) after a
cancel is cut short: the run is marked cancelled and the worker exits (a fresh worker
takes over the queue). Artifacts are written atomically, so nothing half-written is ever
trusted.

Signals: SIGTERM, SIGINT and SIGHUP mark the current run ``interrupted`` and stop the
worker; they are handled on a thread of their own, so even a stage deep in compiled
code is stopped at once.

The runner is swappable (see :mod:`.runners`).
"""

from __future__ import annotations

import argparse
import collections
import errno
import logging
import math
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any

from recsys_core.jobs import artifacts, procs, runners
from recsys_core.jobs.runners import Cancelled, JobFailed, Runner, resolve_runner
from recsys_core.jobs.store import DB_ENV, MODEL, RunRecord, RunStore, env_number

log = logging.getLogger(__name__)

NICE_ENV = "RECSYS_WORKER_NICE"
GRACE_ENV = "RECSYS_CANCEL_GRACE"
LINGER_ENV = "RECSYS_WORKER_LINGER"
HEARTBEAT_ENV = "RECSYS_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT = 1.0
FLUSH_SECONDS = 0.5
FLUSH_EVENTS = 50
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Reporter:
    """Bridges one run's training thread and the store, from a background thread."""

    def __init__(
        self,
        store: RunStore,
        run_id: int,
        interval: float = FLUSH_SECONDS,
        batch: int = FLUSH_EVENTS,
        grace: float | None = None,
        mirror: Any = None,
        owner: tuple[int | None, str | None] | None = None,
        heartbeat: float | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.run_id = run_id
        self.interval = interval
        self.batch = batch
        self.grace = grace if grace is not None else float(os.environ.get(GRACE_ENV, "5"))
        self.heartbeat = (
            heartbeat if heartbeat is not None else env_number(HEARTBEAT_ENV, DEFAULT_HEARTBEAT)
        )
        self.mirror = mirror
        self.cancel = threading.Event()
        self.events_written = 0
        self.write_seconds = 0.0  # CPU time spent writing, for the overhead benchmark
        self._events: collections.deque = collections.deque()
        self._progress: tuple[float, float, str] | None = None
        self._last_beat = -math.inf
        self._cancel_seen_at: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"run-{run_id}-reporter")
        self._thread.daemon = True

    # -- called from the training thread (cheap) -------------------------------------

    def on_event(self, event: Any) -> bool:
        """Training callback: queue the event; True (once cancelled) stops the model."""
        self._events.append(event)
        if len(self._events) >= self.batch:
            self._wake.set()
        return self.cancel.is_set()

    def on_progress(self, done: float, total: float, message: str) -> None:
        """Stage progress, any phase; raises :class:`Cancelled` once the run is cancelled."""
        self._progress = (done, total, message)
        if self.cancel.is_set():
            raise Cancelled(f"cancelled during: {message}")

    # -- background thread -----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write everything still queued."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)
        self.flush()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(min(self.interval, self.heartbeat))
            self._wake.clear()
            try:
                self.flush()
                self._beat()
                self._poll_cancel()
            except Exception:  # the store may be busy; training must go on regardless
                log.exception("run %d: could not write progress", self.run_id)

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= self.heartbeat:
            self.store.beat(self.run_id)
            self._last_beat = now

    def flush(self) -> None:
        with self._lock:
            t0 = time.thread_time()
            rows = []
            while True:
                try:
                    ev = self._events.popleft()
                except IndexError:
                    break
                rows.append(
                    (
                        int(ev.step),
                        int(ev.epoch),
                        _number(ev.loss),
                        _number(ev.auc),
                        _number(ev.auc_seen),
                        _number(ev.lr),
                        _number(ev.elapsed),
                        int(bool(ev.epoch_end)),
                        _number(getattr(ev, "ndcg", None)),
                    )
                )
            if rows:
                self.store.add_metrics(self.run_id, rows)
                self.events_written += len(rows)
                if self.mirror is not None:
                    self.mirror.log_metrics(rows)
            if self._progress is not None:
                self.store.set_progress(self.run_id, *self._progress)
            self.write_seconds += time.thread_time() - t0

    def _poll_cancel(self) -> None:
        if not self.cancel.is_set() and self.store.cancel_requested(self.run_id):
            log.info("run %d: cancel requested", self.run_id)
            self._cancel_seen_at = time.monotonic()
            self.cancel.set()
        if self._cancel_seen_at is not None and not self._stop.is_set():
            if time.monotonic() - self._cancel_seen_at > self.grace:
                self._cut_short()

    @property
    def stage(self) -> str | None:
        """The message of the last progress report (what the run was doing)."""
        return self._progress[2] if self._progress else None

    def _cut_short(self) -> None:
        """A stage ignores the cancel: end the run and this worker without waiting."""
        msg = self.stage or "starting"
        self.store.finish(
            self.run_id,
            "cancelled",
            error=f"cancelled during: {msg} (the stage did not stop within "
            f"{self.grace:g} s, so its worker was stopped)",
        )
        if self.store.workers_needed():
            self.store.start_worker(self.owner)
        log.warning("run %d: stage did not stop; worker exits", self.run_id)
        exit_now(0)


DISK_FULL = (
    "the disk holding the artifact cache ({root}) is full; free space there (for "
    "example `python -m recsys_core cache prune --older-than DAYS`), then restart the run."
)


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the disk or the user's quota is full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc):
            return True
        # numpy writes arrays to an open file in pieces and reports a short write
        # ("24000 requested and 15328 written") without an errno
        if isinstance(exc, OSError) and re.search(r"\d+ requested and \d+ written", str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def exit_now(code: int) -> None:
    """Leave at once (``os._exit``: threads stuck in compiled code cannot hold the exit
    up), after removing what ``finally`` blocks would have: partly written temporary
    files and a private Ray head with its folder."""
    try:
        if "recsys_core.common.cache" in sys.modules:
            sys.modules["recsys_core.common.cache"].discard_partial_files()
        if "recsys_core.cluster.executor" in sys.modules:
            sys.modules["recsys_core.cluster.executor"].shutdown()
    except Exception:  # leaving matters more than tidying
        log.exception("cleanup before exit failed")
    logging.shutdown()
    os._exit(code)


class IdleClock:
    """When a worker with nothing to run retires: the one rule of every worker's loop.

    The first idle poll marks the worker idle in the store (or retires it at once when
    ``linger`` is 0 or less); it retires once it has stayed idle ``linger`` seconds. The
    store may refuse to retire it (a run was queued meanwhile), so each poll asks again.
    """

    def __init__(self, store: RunStore, pid: int, token: str, linger: float) -> None:
        self.store, self.pid, self.token, self.linger = store, pid, token, linger
        self.since: float | None = None

    def busy(self) -> None:
        """The worker claimed a run: the next idle stretch starts afresh."""
        self.since = None

    def retire(self) -> bool:
        """One idle poll; True when the store retired the worker and it should exit."""
        now = time.monotonic()
        if self.since is None:
            if self.linger <= 0 and self.store.retire(self.pid):
                return True
            self.since = now
            self.store.set_idle(self.pid, self.token)
            return False
        return now - self.since >= self.linger and self.store.retire(self.pid)


class Worker:
    """Claims queued runs and executes them one after another."""

    executor = "local"  # recorded in each claimed run's row, with this host's name

    def __init__(
        self,
        store: RunStore,
        runner: Runner | None = None,
        owner_pid: int | None = None,
        owner_token: str | None = None,
    ) -> None:
        self.store = store
        self.runner = runner  # resolved at the first run, so a bad one fails that run
        self.owner_pid = owner_pid
        self.owner_token = owner_token
        self.current: Reporter | None = None
        # Read once, before any run is claimed: a bad value stops the worker, not a run.
        self.heartbeat = env_number(HEARTBEAT_ENV, DEFAULT_HEARTBEAT)
        self.pid = os.getpid()
        self.token = procs.process_token(self.pid)

    def loop(self, linger: float | None = None, poll: float = 0.2) -> int:
        """Execute queued runs; when none is left, wait ``linger`` seconds for more.

        A lingering worker has the model stack imported already, so the next run starts
        at once instead of paying a fresh process's imports (seconds for torch).
        """
        idle = self.idle_clock(linger)
        while True:
            record = self.claim()
            if record is not None:
                idle.busy()
                self.execute(record)
                continue
            if idle.retire():
                return 0
            time.sleep(poll)

    def claim(self) -> RunRecord | None:
        """The next queued run, claimed for this worker (None when none may start)."""
        return self.store.claim(
            self.pid,
            self.token,
            self.owner_pid,
            self.owner_token,
            executor=self.executor,
            host=socket.gethostname(),
        )

    def idle_clock(self, linger: float | None = None) -> IdleClock:
        """This worker's idle clock; ``linger`` defaults to ``RECSYS_WORKER_LINGER`` (60 s)."""
        if linger is None:
            linger = float(os.environ.get(LINGER_ENV, "60"))
        return IdleClock(self.store, self.pid, self.token, linger)

    def runner_for(self, record: RunRecord) -> Runner:
        """This worker's runner for a model run; a build's or projection's own otherwise
        (run here, in this process, whatever executor takes model runs)."""
        if record.kind != MODEL:
            if self.executor != "local":
                self.store.set_placement(record.id, "local", socket.gethostname())
            return runners.runner_for(record.kind)
        if self.runner is None:
            self.runner = resolve_runner()
        return self.runner

    def _check_inputs(self, record: RunRecord, runner: Runner) -> None:
        """Rebuild, never use, a recorded artifact whose files changed since recorded."""
        folders = {rec.folder for rec in self.store.artifacts(key=record.key)}
        expected = getattr(runner, "expected_dirs", None)
        if expected is not None:
            folders.update(artifacts.relative(d) for d in expected(record.spec))
        root = artifacts.cache_root()
        complete = [f for f in folders if (root / f / artifacts.DONE_MARKER).exists()]
        bad = {rec.folder for rec in self.store.artifacts_in(complete) if artifacts.problems([rec])}
        for folder in sorted(bad):
            artifacts.invalidate(folder)

    def execute(self, record: RunRecord) -> str:
        """Execute one claimed run to its end; returns the final status."""
        from recsys_core.jobs import mlflow_mirror

        mirror = mlflow_mirror.start(record)
        reporter = Reporter(
            self.store,
            record.id,
            mirror=mirror,
            owner=(self.owner_pid, self.owner_token),
            heartbeat=self.heartbeat,
        )
        self.current = reporter
        runners.set_placement_hook(
            lambda executor, host: self.store.set_placement(record.id, executor, host)
        )
        reporter.start()
        t0 = time.perf_counter()
        status, error, result = "failed", None, None
        try:
            runner = self.runner_for(record)
            reporter.on_progress(0, 1, "checking cached artifacts")
            self._check_inputs(record, runner)
            result = runner(record.spec, reporter.on_progress, reporter.on_event)
            # A run that completed before a late cancel took effect counts as finished:
            # its artifacts are saved and complete.
            status = "cancelled" if result.cancelled else "finished"
            if status == "cancelled":
                error = "cancelled during training"
        except Cancelled as exc:
            status, error = "cancelled", str(exc)
        except JobFailed as exc:  # the user's to fix: the sentence is the whole story
            status, error = "failed", str(exc)
        except BaseException as exc:  # SystemExit from a library too: report, go on
            status = "failed"
            error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
            if disk_full(exc):
                error = f"{DISK_FULL.format(root=artifacts.cache_root())}\n\n{error}"
        finally:
            reporter.stop()
            runners.set_placement_hook(None)
            self.current = None
        summary, keys, files = None, None, []
        if status == "finished" and result is not None:
            try:
                files = artifacts.scan(result.artifact_dirs)
                summary, keys = result.summary, result.keys
            except OSError as exc:
                status, error = "failed", f"could not checksum the run's artifacts: {exc}"
        self.store.finish(
            record.id, status, error=error, summary=summary, keys=keys, artifacts=files
        )
        if mirror is not None:
            mirror.end(status, summary)
        log.info(
            "run %d %s in %.1f s (%d metric rows)",
            record.id,
            status,
            time.perf_counter() - t0,
            reporter.events_written,
        )
        return status

    def on_signal(self, signum: int) -> None:
        """Mark the current run interrupted and leave at once."""
        name = signal.Signals(signum).name
        reporter = self.current
        if reporter is not None:
            try:
                reporter.flush()
            except Exception:
                log.exception("could not write the last metrics")
            self.store.finish(
                reporter.run_id,
                "interrupted",
                error=f"interrupted: its worker (pid {self.pid}) was stopped by {name}; restart "
                "the run to run it again, and finished stages are reused from the cache.",
            )
        exit_now(128 + signum)


def _watch_signals(worker: Worker) -> None:
    """Handle the stop signals on a thread of their own.

    Python's C-level handler catches a signal on whichever thread the kernel picks (BLAS
    threads started at import time included) and writes its number to the wakeup pipe;
    the watcher thread reads it and acts at once, even while the main thread is deep in
    compiled code that would delay an ordinary Python handler.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    for signum in _SIGNALS:
        signal.signal(signum, lambda *_: None)

    def watch() -> None:
        while True:
            data = os.read(read_fd, 1)
            if data and data[0] in _SIGNALS:
                worker.on_signal(data[0])

    threading.Thread(target=watch, name="signals", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute queued runs of a run store.")
    parser.add_argument("--db", required=True)
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument("--owner-pid", type=int, default=None)
    parser.add_argument("--owner-token", default=None)
    parser.add_argument("--preload", action="store_true", help="import the model stack first")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s worker[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("gensim", "numba", "smart_open"):  # their INFO lines drown the runs'
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        nice = int(os.environ.get(NICE_ENV, "5"))
        if nice:
            os.nice(nice)  # the app's own process stays the snappier one
    except (OSError, ValueError):
        pass
    # The store this worker serves is this process's default store too (a projection
    # reads its run's record through ``jobs.api``).
    os.environ[DB_ENV] = str(args.db)
    store = RunStore(args.db, max_concurrent=args.max_concurrent, recover=False)
    worker_cls = Worker
    if os.environ.get("RECSYS_RAY_ADDRESS", "").strip():  # runs execute on Ray
        from recsys_core.jobs.ray_worker import RayWorker as worker_cls
    worker = worker_cls(store, owner_pid=args.owner_pid, owner_token=args.owner_token or None)
    _watch_signals(worker)
    if args.preload:
        # Say "idle" first so submitters count on this worker while it imports.
        store.set_idle(worker.pid, worker.token)
        from recsys_core.models.registry import model_classes

        model_classes()  # torch, gensim, numba: the seconds a cold run would wait for
        import recsys_core.evaluation.evaluate
        import recsys_core.pipeline  # noqa: F401
    return worker.loop()


if __name__ == "__main__":
    raise SystemExit(main())
