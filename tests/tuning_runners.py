"""Runners the worker processes of tests/test_tuning.py load (``RECSYS_JOBS_RUNNER``).

* :func:`guarded_pipeline` is the real pipeline, with the split's test part guarded: a
  run that evaluates on validation and touches ``Split.test`` fails, and every read of
  the test part is logged to ``<cache>/test-reads.log`` with the run's ``evaluate_on``.
* :func:`epochs_runner` stands in for training: four epochs whose epoch-end AUC follows
  the spec's ``lr``, slow enough for the tuner to prune a trial while it runs.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path


def _log(line: str) -> None:
    path = Path(os.environ["RECSYS_CACHE_DIR"]) / "test-reads.log"
    with open(path, "a") as fh:
        fh.write(line + "\n")


def guarded_pipeline(spec: dict, on_progress, callback):
    from recsys_core.jobs.runners import pipeline_runner
    from recsys_core.split import Split

    evaluate_on = spec.get("evaluate_on", "reported")
    plain_get = object.__getattribute__
    plain_part = Split.part

    def guarded_get(self, name):
        if name == "test" and evaluate_on == "validation":
            _log("FORBIDDEN validation")
            raise RuntimeError("a run that evaluates on validation read the test part")
        return plain_get(self, name)

    def logged_part(self, name):
        if name == "test":
            _log(f"test {evaluate_on}")
        return plain_part(self, name)

    Split.__getattribute__ = guarded_get
    Split.part = logged_part
    try:
        return pipeline_runner(spec, on_progress, callback)
    finally:
        del Split.__getattribute__
        Split.part = plain_part


guarded_pipeline.expected_dirs = lambda spec: []


def epochs_runner(spec: dict, on_progress, callback):
    from recsys_core.jobs.runners import JobResult
    from recsys_core.models.base import TrainEvent

    params = dict(spec["model_params"])
    # 0.02 .. 0.5 (the lr range of MF's space) -> 0.55 .. 0.95, the same at every epoch
    quality = 0.55 + 0.4 * math.log(params["lr"] / 0.02) / math.log(25)
    t0 = time.perf_counter()
    epochs = 4
    # room for the tuner to see an epoch and prune the run while it trains
    pause = float(os.environ.get("FAKE_EPOCH_SECONDS", "0.3"))
    for epoch in range(epochs):
        on_progress(epoch, epochs, "training fake")
        time.sleep(pause)
        event = TrainEvent(
            step=epoch,
            epoch=epoch,
            loss=1.0,
            lr=params["lr"],
            elapsed=time.perf_counter() - t0,
            auc=quality + 0.001 * epoch,
            auc_seen=quality,
            epoch_end=True,
            total_steps=epochs,
        )
        if callback(event):
            return JobResult(cancelled=True)
    part = "test" if spec.get("evaluate_on") == "reported" else "validation"
    return JobResult(
        summary={"ndcg": quality - 0.5, "hit_rate": quality - 0.4, "auc_all": quality, "k": 10}
        | {"part": part, "train_seconds": time.perf_counter() - t0},
        keys={"fake": spec["model"]},
    )


epochs_runner.expected_dirs = lambda spec: []
