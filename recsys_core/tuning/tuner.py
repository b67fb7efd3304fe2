"""Tune a model on validation with Optuna; read test once, at the end.

Every trial is an ordinary run in the run store (:mod:`recsys_core.jobs`) with
``evaluate_on="validation"``: it is listed, followable and cancellable like any run,
cached by its settings, and never reads a test label. The tuner follows each trial's
training events as they are written, reports the epoch-end validation metric (``ndcg``
where the events carry it, else the live ``auc``) to Optuna's pruner, and cancels the run
of a trial the pruner stops: Optuna records it as pruned, the run list as cancelled. The
objective is the finished run's validation metric (NDCG@10 by default).

Trials run ``parallel`` at a time. Locally they go to the store's worker processes; with
the Ray executor (``RECSYS_RAY_ADDRESS`` / ``--ray``) this process drives them on Ray, as
many at once as the cluster has room for.

Once the trials are done, the best trial's settings run once more with
``evaluate_on="reported"``: the only test evaluation of the tune (the training is reused,
see :meth:`~recsys_core.pipeline.RunSpec.train_key`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from recsys_core import jobs
from recsys_core.jobs.store import RunStore, default_db_path
from recsys_core.tuning.space import WALKS, Param, space_for
from recsys_core.tuning.studies import METRICS, storage, study_name

log = logging.getLogger(__name__)


class TrialFailed(RuntimeError):
    """A trial's run ended failed, cancelled from outside or interrupted."""


@dataclasses.dataclass(frozen=True)
class TuneSettings:
    """How a tune searches.

    ``trials`` is the number of finished (complete or pruned) trials the study should
    hold: running the same tune again resumes it and only runs what is missing.
    ``timeout`` (seconds) stops starting new trials; ``parallel`` (None: one locally, the
    Ray executor's room under Ray) trials run at once.
    """

    trials: int = 30
    metric: str = "ndcg"
    timeout: float | None = None
    parallel: int | None = None
    seed: int = 0
    poll: float = 0.5
    startup_trials: int = 5
    warmup_epochs: int = 1

    def validate(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.trials < 1:
            raise ValueError(f"--trials must be at least 1, got {self.trials}")
        if self.parallel is not None and self.parallel < 1:
            raise ValueError(f"--parallel must be at least 1, got {self.parallel}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"--timeout must be a number of seconds > 0, got {self.timeout}")


@dataclasses.dataclass
class TuneResult:
    """What a tune found: the best trial's settings, validation and test figures."""

    study: str
    model: str
    metric: str
    best_params: dict[str, Any]
    best_trial: int | None
    validation: dict[str, Any]
    test: dict[str, Any]
    best_run: int | None
    test_run: int | None
    trials_done: int
    trials_pruned: int
    trials_failed: int
    seconds: float

    def as_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def trial_spec(base: Any, params: dict[str, Any], space: list[Param], evaluate_on: str) -> Any:
    """``base`` with a trial's ``params`` (model settings and walks) and its evaluation part."""
    targets = {p.name: p.target for p in space}
    model = {k: v for k, v in params.items() if targets.get(k) != WALKS}
    walk = {k: v for k, v in params.items() if targets.get(k) == WALKS}
    walks = base.walks
    if walk:
        walks = dataclasses.replace(base.walk_settings(), **walk)
    merged = dict(base.model_params) | model
    return dataclasses.replace(
        base,
        model_params=tuple(sorted(merged.items())),
        walks=walks,
        evaluate_on=evaluate_on,
    )


def epoch_values(frame: Any) -> list[tuple[int, float]]:
    """``(epoch, value)`` at each epoch end of a metrics frame: ``ndcg`` when the events
    carry it, else the live ``auc``."""
    ends = frame[frame["epoch_end"]]
    column = "ndcg" if "ndcg" in ends.columns and ends["ndcg"].notna().any() else "auc"
    ends = ends[ends[column].notna()]
    return [(int(e), float(v)) for e, v in zip(ends["epoch"], ends[column], strict=True)]


class Executor:
    """Where trial runs execute: the local worker processes, or this process on Ray."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.ray_worker: Any = None
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def connect_ray(self) -> int:
        """Connect to Ray; the number of runs it executes at once."""
        from recsys_core.jobs.ray_worker import RayWorker

        self.ray_worker = RayWorker(self.store)
        problem = self.ray_worker.connect()
        if problem is not None:
            raise ValueError(f"cannot reach Ray ({problem}); check --ray / RECSYS_RAY_ADDRESS")
        return self.ray_worker.concurrency

    def submit(self, spec: Any) -> int:
        if self.ray_worker is None:
            return jobs.submit(spec, store=self.store)
        from recsys_core.jobs.specs import submission

        sub = submission(spec)
        run_id, _ = self.store.enqueue(sub.spec, sub.key, sub.model, sub.dataset)
        self.drive()
        return run_id

    def drive(self) -> None:
        """Under Ray: keep this process's Ray worker looping while runs wait."""
        if self.ray_worker is None:
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self.ray_worker.loop, kwargs={"linger": 5.0}, daemon=True
                )
                self.thread.start()


class Tuner:
    """One tune of ``base`` (a :class:`~recsys_core.pipeline.RunSpec`)."""

    def __init__(
        self,
        base: Any,
        settings: TuneSettings,
        store: RunStore | None = None,
        on_trial: Callable[[dict[str, Any]], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        from recsys_core import cluster

        settings.validate()
        base.validate()
        self.base = base
        self.settings = settings
        self.space = space_for(
            base.model, fixed=[k for k, _ in base.model_params], walks_fixed=base.walks is not None
        )
        self.on_trial = on_trial
        self.stop = stop or threading.Event()
        self.name = study_name(base, settings.metric)
        parallel = settings.parallel or 1
        if store is None:
            # enough worker slots for the trials in flight (the store's default is one)
            store = RunStore(default_db_path(), max_concurrent=max(parallel, 1))
        self.executor = Executor(store)
        if cluster.enabled():
            room = self.executor.connect_ray()
            parallel = settings.parallel or room
        self.parallel = parallel
        self.store = store
        self.lock = threading.Lock()
        self.in_flight = 0

    # -- the study -----------------------------------------------------------------

    def study(self) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pruner = optuna.pruners.MedianPruner(
            n_startup_trials=self.settings.startup_trials,
            n_warmup_steps=self.settings.warmup_epochs,
        )
        study = optuna.create_study(
            study_name=self.name,
            storage=storage(),
            pruner=pruner,
            direction="maximize",
            load_if_exists=True,
        )
        # A resumed study continues the seed's sequence instead of replaying it (the same
        # seed would redraw the startup trials it already has).
        study.sampler = optuna.samplers.TPESampler(
            seed=self.settings.seed + len(study.get_trials(deepcopy=False)),
            n_startup_trials=min(10, max(self.settings.trials // 3, 2)),
            constant_liar=self.parallel > 1,  # parallel trials do not all pick one point
        )
        study.set_user_attr("model", self.base.model)
        study.set_user_attr("metric", self.settings.metric)
        study.set_user_attr("dataset", self.base.dataset.describe())
        study.set_user_attr("space", [p.describe() for p in self.space])
        self._fail_orphans(study)
        return study

    @staticmethod
    def _fail_orphans(study: Any) -> None:
        """Trials left running by a tune that died are failed, so a resume redoes them."""
        import optuna

        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            pid = trial.user_attrs.get("tuner_pid")
            if pid is None or not _alive(int(pid)):
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)

    @staticmethod
    def counts(study: Any) -> dict[str, int]:
        import optuna

        states = [t.state for t in study.get_trials(deepcopy=False)]
        state = optuna.trial.TrialState
        return {
            "complete": states.count(state.COMPLETE),
            "pruned": states.count(state.PRUNED),
            "failed": states.count(state.FAIL),
        }

    # -- trials --------------------------------------------------------------------

    def _take_slot(self, study: Any, deadline: float | None) -> bool:
        with self.lock:
            if self.stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                return False
            counts = self.counts(study)
            if counts["complete"] + counts["pruned"] + self.in_flight >= self.settings.trials:
                return False
            self.in_flight += 1
            return True

    def _slot(self, study: Any, deadline: float | None) -> None:
        """One lane of trials: ask, run, tell, until the study holds enough."""
        import optuna

        while self._take_slot(study, deadline):
            try:
                trial = study.ask()
                trial.set_user_attr("tuner_pid", os.getpid())
                try:
                    value = self.run_trial(trial)
                except optuna.TrialPruned:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    self._announce(trial, "pruned")
                except TrialFailed as exc:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    self._announce(trial, "failed", error=str(exc))
                else:
                    study.tell(trial, value)
                    self._announce(trial, "complete", value=value)
            finally:
                with self.lock:
                    self.in_flight -= 1

    def _announce(self, trial: Any, state: str, **extra: Any) -> None:
        if self.on_trial is not None:
            info = {
                "trial": trial.number,
                "state": state,
                "run": trial.user_attrs.get("run_id"),
                "params": dict(trial.params),
                **extra,
            }
            self.on_trial(info)

    def run_trial(self, trial: Any) -> float:
        """Submit the trial's run, report its epochs to the pruner, return its metric."""
        import optuna

        params = {p.name: p.suggest(trial) for p in self.space}
        spec = trial_spec(self.base, params, self.space, evaluate_on="validation")
        run_id = self.executor.submit(spec)
        trial.set_user_attr("run_id", run_id)
        reported: set[int] = set()
        last_step = -1
        while True:
            record = self.store.get(run_id)
            frame = jobs.metrics(run_id, since_step=last_step, store=self.store)
            if len(frame):
                last_step = int(frame["step"].max())
            for epoch, value in epoch_values(frame):
                if epoch in reported:
                    continue
                reported.add(epoch)
                trial.report(value, epoch)
                if record.active and trial.should_prune():
                    record = self._cancel(run_id)
                    if record.status != "finished":  # it may have finished meanwhile
                        trial.set_user_attr("pruned_at_epoch", epoch)
                        raise optuna.TrialPruned(f"pruned at epoch {epoch}")
            if not record.active:
                break
            if self.stop.is_set():
                self._cancel(run_id)
                raise TrialFailed(f"run {run_id}: the tune was stopped")
            if record.status == "queued":
                self.executor.drive()
            time.sleep(self.settings.poll)
        return self._value(trial, record)

    def _cancel(self, run_id: int) -> Any:
        jobs.cancel(run_id, store=self.store)
        return jobs.wait(run_id, timeout=120, store=self.store)

    def _value(self, trial: Any, record: Any) -> float:
        if record.status != "finished":
            reason = (record.error or "").splitlines()[0] if record.error else record.status
            raise TrialFailed(f"run {record.id} {record.status}: {reason}")
        summary = record.summary or {}
        trial.set_user_attr("validation", {m: summary.get(m) for m in METRICS})
        value = summary.get(self.settings.metric)
        if value is None:
            raise TrialFailed(f"run {record.id} has no {self.settings.metric}")
        return float(value)

    # -- the whole tune ------------------------------------------------------------

    def run(self) -> TuneResult:
        t0 = time.monotonic()
        study = self.study()
        deadline = None if self.settings.timeout is None else t0 + self.settings.timeout
        lanes = [
            threading.Thread(target=self._slot, args=(study, deadline), name=f"tune-{i}")
            for i in range(self.parallel)
        ]
        for lane in lanes:
            lane.start()
        try:
            for lane in lanes:
                while lane.is_alive():
                    lane.join(timeout=0.5)
        except BaseException:
            self.stop.set()  # Ctrl-C: every lane cancels its run and ends
            for lane in lanes:
                lane.join(timeout=150)
            raise
        result = self.final(study)
        result.seconds = round(time.monotonic() - t0, 3)
        return result

    def final(self, study: Any) -> TuneResult:
        """The best trial's settings evaluated once on the reported part (test)."""
        counts = self.counts(study)
        result = TuneResult(
            study=self.name,
            model=self.base.model,
            metric=self.settings.metric,
            best_params={},
            best_trial=None,
            validation={},
            test={},
            best_run=None,
            test_run=None,
            trials_done=counts["complete"] + counts["pruned"],
            trials_pruned=counts["pruned"],
            trials_failed=counts["failed"],
            seconds=0.0,
        )
        if counts["complete"] == 0 or self.stop.is_set():
            return result
        best = study.best_trial
        result.best_trial = best.number
        result.best_params = dict(best.params)
        result.validation = dict(best.user_attrs.get("validation", {}))
        result.best_run = best.user_attrs.get("run_id")
        spec = trial_spec(self.base, best.params, self.space, evaluate_on="reported")
        run_id = self.executor.submit(spec)
        while (record := self.store.get(run_id)).active:
            if self.stop.is_set():
                self._cancel(run_id)
                return result
            if record.status == "queued":
                self.executor.drive()
            time.sleep(self.settings.poll)
        result.test_run = run_id
        if record.status != "finished":
            raise RuntimeError(f"the test run {run_id} of the best settings {record.status}")
        summary = record.summary or {}
        result.test = {m: summary.get(m) for m in METRICS} | {"part": summary.get("part")}
        study.set_user_attr("test", {"trial": best.number, "run": run_id, "metrics": result.test})
        return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tune(
    base: Any,
    settings: TuneSettings | None = None,
    store: RunStore | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> TuneResult:
    """Tune ``base``'s model (its fixed settings stay fixed) and return what was found."""
    return Tuner(base, settings or TuneSettings(), store, on_trial, stop).run()
