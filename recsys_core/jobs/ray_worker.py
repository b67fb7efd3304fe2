"""The worker for a Ray executor: claims runs from the store, executes them on Ray.

Started like any worker (``python -m recsys_core.jobs.worker``) when
``RECSYS_RAY_ADDRESS`` is set. It stays on the app's host, connects to Ray once (a
``local`` setting starts the private head here, tied to this process), and drives up to
``concurrency`` runs at once, one thread and one Ray actor each
(:func:`~.ray_runner.ray_runner`): everything the store records - progress, metrics,
statuses, artifacts' checksums - goes through the ordinary :class:`~.worker.Worker`
code path.

``concurrency`` is ``RECSYS_MAX_CONCURRENT`` when set, else the cluster's CPUs divided
by the CPUs of one run. A stop signal marks every run it drives ``interrupted``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from recsys_core.jobs.ray_runner import ray_runner, run_cpus
from recsys_core.jobs.store import CONCURRENCY_ENV, RunStore
from recsys_core.jobs.worker import Worker, exit_now

log = logging.getLogger(__name__)


class RayWorker(Worker):
    """A :class:`Worker` whose runs execute as Ray actors, several at a time."""

    executor = "ray"

    def __init__(self, store: RunStore, **kwargs) -> None:
        super().__init__(store, runner=ray_runner, **kwargs)
        self.threads: dict[int, threading.Thread] = {}
        self.concurrency = 1

    def connect(self) -> str | None:
        """Connect to Ray; the error text when it cannot."""
        from recsys_core import cluster

        try:
            ray = cluster.connect()
        except cluster.ClusterError as exc:
            return str(exc)
        env = os.environ.get(CONCURRENCY_ENV)
        cpus = float(ray.cluster_resources().get("CPU", 1))
        self.concurrency = int(env) if env else max(1, int(cpus // max(run_cpus(), 1e-9)))
        self.store.max_concurrent = self.concurrency
        log.info("Ray worker: %d runs at a time on %g CPUs", self.concurrency, cpus)
        return None

    def _fail_queued(self, reason: str) -> None:
        while (record := self.claim()) is not None:
            self.store.finish(record.id, "failed", error=f"cannot reach Ray: {reason}")

    def _start(self, record) -> None:
        thread = threading.Thread(
            target=self.execute, args=(record,), name=f"run-{record.id}", daemon=True
        )
        self.threads[record.id] = thread
        thread.start()

    def loop(self, linger: float | None = None, poll: float = 0.2) -> int:
        idle = self.idle_clock(linger)
        problem = self.connect()
        if problem is not None:
            log.error("cannot reach Ray: %s", problem)
            self._fail_queued(problem)
            return 1
        while True:
            for run_id, thread in list(self.threads.items()):
                if not thread.is_alive():
                    del self.threads[run_id]
            # up to ``concurrency`` model runs and as many builds/projections (the store's
            # lanes decide which may start)
            if len(self.threads) < 2 * self.concurrency:
                record = self.claim()
                if record is not None:
                    idle.busy()
                    self._start(record)
                    continue
            if not self.threads and idle.retire():
                return 0
            time.sleep(poll)

    def on_signal(self, signum: int) -> None:
        """Mark every run this worker drives ``interrupted`` and leave at once."""
        name = signal.Signals(signum).name
        for run_id in list(self.threads):
            try:
                self.store.finish(
                    run_id,
                    "interrupted",
                    error=f"interrupted: its worker (pid {self.pid}) was stopped by {name}; "
                    "restart the run to run it again, and finished stages are reused from the "
                    "cache.",
                )
            except Exception:
                log.exception("could not mark run %d interrupted", run_id)
        exit_now(128 + signum)
