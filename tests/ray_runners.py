"""A stand-in runner for the Ray run tests, loaded by Ray workers via RECSYS_JOBS_RUNNER.

It writes its process id to ``$RECSYS_CACHE_DIR/pids/<n>`` first (so a test can kill the
Ray worker that runs it), then
trains "forever" - one event per step - until the callback asks it to stop, or sits in a
long stage that only reports progress (``spec["stage"]``).
"""

from __future__ import annotations

import dataclasses
import os
import time


@dataclasses.dataclass
class Event:
    """The fields of models.base.TrainEvent."""

    step: int
    epoch: int
    loss: float
    lr: float
    elapsed: float
    auc: float | None = None
    auc_seen: float | None = None
    epoch_end: bool = False
    total_steps: int | None = None


def endless_runner(spec: dict, on_progress, callback):
    from pathlib import Path

    from recsys_core.jobs import JobResult

    pids = Path(os.environ["RECSYS_CACHE_DIR"]) / "pids"
    pids.mkdir(parents=True, exist_ok=True)
    (pids / f".{spec['n']}").write_text(str(os.getpid()))
    os.replace(pids / f".{spec['n']}", pids / str(spec["n"]))
    t0 = time.perf_counter()
    for step in range(10**7):
        if spec.get("stage"):
            on_progress(step, 10**7, "preparing")
        else:
            on_progress(step, 10**7, "training endless")
            if callback(Event(step, 0, 1.0 / (1 + step), 0.025, time.perf_counter() - t0)):
                return JobResult(cancelled=True)
        time.sleep(0.01)
    return JobResult(summary={"auc_all": 0.5})


def pair_runner(spec: dict, on_progress, callback):
    """Finishes only once run ``spec["other"]`` has started too: proof of parallel runs."""
    from pathlib import Path

    from recsys_core.jobs import JobResult

    started = Path(os.environ["RECSYS_CACHE_DIR"]) / "started"
    started.mkdir(parents=True, exist_ok=True)
    (started / str(spec["n"])).write_text("")
    deadline = time.monotonic() + 60
    while not (started / str(spec["other"])).exists():
        on_progress(0, 1, "waiting for the other run")
        if time.monotonic() > deadline:
            raise RuntimeError("the other run never started: runs are not parallel")
        time.sleep(0.02)
    callback(Event(0, 0, 1.0, 0.025, 0.0, auc=0.5 + spec["n"] / 10, epoch_end=True))
    return JobResult(summary={"auc_all": 0.5 + spec["n"] / 10, "k": 10})
