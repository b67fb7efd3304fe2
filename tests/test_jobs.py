"""Job layer: real worker processes, a real SQLite store, small data.

Most tests run a stand-in for ``pipeline.run`` (:func:`fake_runner`, loaded by the
workers through ``RECSYS_JOBS_RUNNER``) so they exercise processes, signals and the
store in a second or two; one test runs the real pipeline end to end.

No test measures time: waits end on an event (a status, a file, a process state) and
their deadlines only catch hangs, so a busy machine makes the suite slower, never red.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsys_core import jobs
from recsys_core.jobs import RunStore

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]


@dataclasses.dataclass
class FakeEvent:
    """Same fields as models.base.TrainEvent, without importing the model stack."""

    step: int
    epoch: int
    loss: float
    lr: float
    elapsed: float
    auc: float | None = None
    auc_seen: float | None = None
    epoch_end: bool = False
    total_steps: int | None = None


def _cache_root() -> Path:
    # Not recsys_core.common.cache: the workers that load this module stay free of numpy/pandas.
    return Path(os.environ["RECSYS_CACHE_DIR"])


def _fake_folder(spec: dict) -> Path:
    return _cache_root() / "fake" / spec["artifact"]


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def fake_runner(spec: dict, on_progress, callback):
    """Stand-in for pipeline.run, driven by the spec: stages, steps, failures, artifact.

    spec keys: artifact (name), steps, pause (s per step), prep_steps (progress reports
    before training), walk_steps (reports of a walks stage), stuck (seconds without any
    report), fail_at (step that raises), quiet (training reports through the training
    callback only), eval_steps (reports of an evaluation stage after training), meet
    (another run's artifact name: training starts once both runs are executing),
    hold_tmp (hold a temporary file open, unreported, until the worker is stopped).
    """
    from recsys_core.jobs import JobResult

    pause = spec.get("pause", 0.001)
    prep = spec.get("prep_steps", 0)
    for i in range(prep):
        on_progress(i, prep, "preparing")
        time.sleep(pause)
    on_progress(0, 1, "preparing")
    if spec.get("hold_tmp"):  # a file half-written when the worker is made to exit
        from recsys_core.common import cache

        with cache.atomic_path(_fake_folder(spec) / "partial.bin") as tmp:
            tmp.write_bytes(b"half")
            (_cache_root() / "holding").write_text(str(tmp))
            time.sleep(spec.get("stuck", 3600))
    if spec.get("stuck"):
        time.sleep(spec["stuck"])  # a stage that reports nothing (e.g. compiled code)
    if spec.get("meet"):
        _meet(spec["artifact"], spec["meet"], on_progress)
    walk_steps = spec.get("walk_steps", 0)
    for i in range(walk_steps):
        on_progress(i, walk_steps, "generating walks")
        time.sleep(pause)
    steps = spec.get("steps", 5)
    t0 = time.perf_counter()
    for step in range(steps):
        if not spec.get("quiet"):
            on_progress(step + 1, steps, "training fake")
        if spec.get("fail_at") == step:
            raise RuntimeError(f"boom at step {step}")
        if pause:
            time.sleep(pause)
        event = FakeEvent(
            step=step,
            epoch=0,
            loss=1.0 / (1 + step),
            lr=0.025,
            elapsed=time.perf_counter() - t0,
            auc=0.5 + step / (2 * steps) if step % 10 == 0 else None,
            epoch_end=step == steps - 1,
            total_steps=steps,
        )
        if callback(event):
            return JobResult(cancelled=True)
    on_progress(0, 1, "evaluating")
    eval_steps = spec.get("eval_steps", 0)
    for i in range(eval_steps):
        on_progress(i, eval_steps, "evaluating")
        time.sleep(pause)
    folder = _fake_folder(spec)
    if not (folder / "done.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "data.bin", bytes(range(256)) * 64)
        builds = _cache_root() / "fake-builds" / f"{spec['artifact']}.txt"
        builds.parent.mkdir(parents=True, exist_ok=True)
        with open(builds, "a") as fh:
            fh.write("built\n")
        _write(folder / "done.json", b'{"kind": "fake"}')
    return JobResult(
        summary={"auc_all": 0.75, "k": 10, "train_seconds": time.perf_counter() - t0},
        keys={"fake": spec["artifact"]},
        artifact_dirs=[folder],
    )


fake_runner.expected_dirs = lambda spec: [_fake_folder(spec)]


def _meet(mine: str, other: str, on_progress) -> None:
    """Say this run executes, and wait until ``other`` does too (a rendezvous)."""
    here = _cache_root() / "executing"
    here.mkdir(parents=True, exist_ok=True)
    (here / mine).write_text("")
    deadline = time.monotonic() + HANG_SECONDS
    while not (here / other).exists():
        on_progress(0, 1, f"waiting for run {other}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {other} never executed beside this one")
        time.sleep(0.02)


# Deadlines only catch hangs; a slow machine only makes the waits longer.
HANG_SECONDS = 300.0


def builds(name: str) -> int:
    path = _cache_root() / "fake-builds" / f"{name}.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{HERE}:fake_runner")
    monkeypatch.setenv("RECSYS_WORKER_NICE", "0")
    # Cut a stage short only when it ignores a cancel for a minute: a stage that reports
    # is never cut short by a busy machine (the one test of the cut sets its own).
    monkeypatch.setenv("RECSYS_CANCEL_GRACE", "60")
    monkeypatch.setenv("RECSYS_WORKER_LINGER", "0")  # no idle workers left behind
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def _kill_leftovers(store: RunStore) -> None:
    from recsys_core.jobs import procs

    pids = [r.pid for r in store.list() if r.active and r.pid] + store.idle_workers()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    wait_for(lambda: not any(procs.is_alive(pid, None) for pid in pids))


@pytest.fixture
def store(env):
    s = RunStore(env / "runs.sqlite")
    yield s
    _kill_leftovers(s)


def wait_for(predicate, timeout: float = HANG_SECONDS, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not met in time")


def running_with_metrics(store: RunStore, run_id: int):
    rec = store.get(run_id)
    return rec if rec.status == "running" and store.metric_rows(run_id) else None


def test_finished_run_has_all_metrics_and_artifacts(store):
    spec = {"model": "fake", "artifact": "a1", "steps": 120, "pause": 0.002}
    run_id = jobs.submit(spec, store)
    rec = jobs.wait(run_id, timeout=HANG_SECONDS, store=store)
    assert rec.status == "finished", rec.error
    assert rec.summary["auc_all"] == 0.75
    frame = jobs.metrics(run_id, store=store)
    assert list(frame.columns) == [
        "step",
        "epoch",
        "loss",
        "auc",
        "auc_seen",
        "lr",
        "elapsed",
        "epoch_end",
        "ndcg",
    ]
    assert frame["step"].tolist() == list(range(120))
    assert frame["epoch_end"].sum() == 1 and bool(frame["epoch_end"].iloc[-1])
    assert frame["auc"].notna().sum() == 12
    assert len(jobs.metrics(run_id, since_step=100, store=store)) == 19
    assert [r.path for r in store.artifacts(run_id)] == ["fake/a1/data.bin", "fake/a1/done.json"]
    assert jobs.verify(run_id, store) == []
    # Same settings again: the finished run comes back, nothing is recomputed.
    assert jobs.submit(dict(spec), store) == run_id
    assert builds("a1") == 1
    assert [r.id for r in jobs.list_runs("finished", store)] == [run_id]
    table = jobs.compare([run_id], store)
    assert table.loc[0, "AUC all"] == 0.75 and table.loc[0, "status"] == "finished"


def test_an_idle_worker_takes_the_next_run_without_a_new_process(store, monkeypatch):
    monkeypatch.setenv("RECSYS_WORKER_LINGER", "3600")  # killed at the test's end
    first = jobs.submit({"model": "fake", "artifact": "l1", "steps": 3}, store)
    worker_pid = jobs.wait(first, timeout=HANG_SECONDS, store=store).pid
    wait_for(lambda: store.idle_workers() == [worker_pid])
    second = jobs.submit({"model": "fake", "artifact": "l2", "steps": 3}, store)
    rec = jobs.wait(second, timeout=HANG_SECONDS, store=store)
    assert rec.status == "finished" and rec.pid == worker_pid


def test_training_error_shows_failed_with_message(store):
    run_id = jobs.submit({"model": "fake", "artifact": "f", "steps": 50, "fail_at": 3}, store)
    rec = jobs.wait(run_id, timeout=HANG_SECONDS, store=store)
    assert rec.status == "failed"
    assert "RuntimeError: boom at step 3" in rec.error
    assert "Traceback" in rec.error
    assert len(jobs.metrics(run_id, store=store)) == 3  # what it reported before is kept
    # A failed run frees its settings key: restarting queues a new run.
    new_id = jobs.restart(run_id, store)
    assert new_id != run_id


def test_killed_worker_is_failed_and_finished_runs_survive(store):
    done_id = jobs.submit({"model": "fake", "artifact": "keep", "steps": 20}, store)
    long_id = jobs.submit({"model": "fake", "artifact": "x", "steps": 10**6, "pause": 0.01}, store)
    rec = wait_for(lambda: running_with_metrics(store, long_id))  # after done_id finished
    assert store.get(done_id).status == "finished"
    os.kill(rec.pid, signal.SIGKILL)
    after = wait_for(lambda: (r := store.get(long_id)).status != "running" and r)
    assert after.status == "failed"
    assert f"worker process died (pid {rec.pid})" in after.error
    kept = store.get(done_id)
    assert kept.status == "finished"
    assert len(jobs.metrics(done_id, store=store)) == 20
    assert jobs.verify(done_id, store) == []


def test_cancel_running_queued_and_during_a_stage(store):
    # max_concurrent = 1: the later runs wait, and the one worker takes them in turn.
    run_id = jobs.submit({"model": "fake", "artifact": "c", "steps": 10**6, "pause": 0.01}, store)
    queued_id = jobs.submit({"model": "fake", "artifact": "q", "steps": 5}, store)
    stage_id = jobs.submit({"model": "fake", "artifact": "s", "prep_steps": 10**6}, store)
    wait_for(lambda: running_with_metrics(store, run_id))
    assert store.get(queued_id).status == "queued"
    assert jobs.cancel(queued_id, store) == "cancelled"  # at once

    assert jobs.cancel(run_id, store) == "running"
    rec = wait_for(lambda: (r := store.get(run_id)).status == "cancelled" and r)
    assert "did not stop" not in rec.error  # stopped by the flag, not cut short

    wait_for(lambda: store.get(stage_id).progress_message == "preparing")
    jobs.cancel(stage_id, store)
    rec = wait_for(lambda: (r := store.get(stage_id)).status == "cancelled" and r)
    assert "preparing" in rec.error and "did not stop" not in rec.error


def test_a_stage_that_ignores_cancel_is_cut_short(store, monkeypatch):
    # The grace is a lower bound here (the stage never reports), so 1 s is safe.
    monkeypatch.setenv("RECSYS_CANCEL_GRACE", "1")
    spec = {"model": "fake", "artifact": "z", "stuck": 3600, "hold_tmp": True}
    stuck_id = jobs.submit(spec, store)
    holding = _cache_root() / "holding"
    tmp = Path(wait_for(lambda: holding.exists() and holding.read_text()))
    assert tmp.exists()
    rec = store.get(stuck_id)
    jobs.cancel(stuck_id, store)
    after = wait_for(lambda: (r := store.get(stuck_id)).status == "cancelled" and r)
    assert "did not stop" in after.error and "preparing" in after.error
    wait_for(lambda: not jobs.procs.is_alive(rec.pid, None))  # its worker left...
    assert not tmp.exists()  # ...through os._exit, without its half-written file


def test_cancel_is_a_flag_checked_in_every_phase(store):
    # Each run holds in one phase, reporting progress, until it is cancelled there.
    phases = {
        "preparing": {"prep_steps": 10**6},
        "generating walks": {"walk_steps": 10**6},
        "training fake": {"steps": 10**6},
        "evaluating": {"steps": 2, "eval_steps": 10**6},
    }
    for i, (phase, holds) in enumerate(phases.items()):
        run_id = jobs.submit({"model": "fake", "artifact": f"ph{i}", "pause": 0.01, **holds}, store)
        wait_for(lambda run_id=run_id, phase=phase: store.get(run_id).progress_message == phase)
        assert jobs.cancel(run_id, store) == "running"
        assert store.cancel_requested(run_id)
        rec = wait_for(lambda run_id=run_id: (r := store.get(run_id)).status == "cancelled" and r)
        # Stopped by the flag in that phase (in training: by the progress report or by
        # the training callback, whichever comes first), not cut short after the grace.
        assert rec.error.startswith("cancelled during") and phase.split()[0] in rec.error
        assert "did not stop" not in rec.error


def test_training_stops_through_the_training_callback(store):
    # A runner whose training reports through the training callback only still stops.
    run_id = jobs.submit(
        {"model": "fake", "artifact": "cb", "steps": 10**6, "pause": 0.01, "quiet": True}, store
    )
    wait_for(lambda: running_with_metrics(store, run_id))
    jobs.cancel(run_id, store)
    rec = wait_for(lambda: (r := store.get(run_id)).status == "cancelled" and r)
    assert rec.error == "cancelled during training"


def test_reporter_decides_cancel_by_the_flag_not_the_message(store):
    from recsys_core.jobs.worker import Reporter

    run_id, _ = store.enqueue({"model": "fake"}, "flag", "fake", "")
    # This test process plays the worker: no thread, no subprocess.
    assert store.claim(os.getpid(), None, None, None).id == run_id
    try:
        reporter = Reporter(store, run_id, grace=60)
        event = FakeEvent(step=0, epoch=0, loss=1.0, lr=0.1, elapsed=0.0, total_steps=2)
        for message in ("preparing", "training sgns", "evaluating"):
            reporter.on_progress(0, 1, message)  # not cancelled: never raises
        assert reporter.on_event(event) is False
        store.request_cancel(run_id)
        assert store.cancel_requested(run_id) and store.get(run_id).status == "running"
        reporter._poll_cancel()
        for message in ("preparing", "generating walks", "training sgns", "evaluating"):
            with pytest.raises(jobs.Cancelled, match=message):
                reporter.on_progress(1, 2, message)
        assert reporter.on_event(event) is True
    finally:
        store.finish(run_id, "cancelled", error="test over")


def test_an_overdue_heartbeat_marks_a_live_run_stuck_until_it_beats(env):
    store = RunStore(env / "runs.sqlite", stuck_after=120.0)
    run_id, _ = store.enqueue({"model": "fake"}, "beat", "fake", "")
    assert store.claim(os.getpid(), None, None, None).id == run_id  # a live "worker"
    try:
        store.beat(run_id)
        assert store.mark_stuck() == [] and store.get(run_id).status == "running"
        with store.transaction() as tx:  # its last heartbeat ten minutes ago
            tx.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time() - 600, run_id))
        rec = store.get(run_id)  # a reader notices
        assert rec.status == "stuck" and rec.active
        assert f"pid {os.getpid()}" in rec.error and "heartbeat" in rec.error
        assert store.find_live("beat").id == run_id  # it keeps its settings key
        waiting, _ = store.enqueue({"model": "fake", "n": 2}, "beat2", "fake", "")
        assert store.claim(os.getpid(), None, None, None) is None  # and its slot
        assert store.request_cancel(waiting) == "cancelled"
        store.beat(run_id)  # the heartbeat resumes
        rec = store.get(run_id)
        assert rec.status == "running" and rec.error is None
    finally:
        store.finish(run_id, "cancelled", error="test over")


class RemoteStore(RunStore):
    """A store as an executor without local worker processes would use it."""

    def __init__(self, *args, **kwargs) -> None:
        self.stopped: list[int] = []
        super().__init__(*args, **kwargs)

    def kill_worker(self, run_id, pid, token):
        self.stopped.append(run_id)
        return True


def test_an_executor_without_local_pids_is_judged_by_its_heartbeat(env):
    store = RemoteStore(env / "runs.sqlite", stuck_after=120.0)
    run_id, _ = store.enqueue({"model": "fake"}, "remote", "fake", "")
    assert store.claim(None, None, None, None).id == run_id
    store.beat(run_id)
    assert store.get(run_id).status == "running"  # no pid is not a dead process
    with store.transaction() as tx:
        tx.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time() - 600, run_id))
    assert store.mark_stuck() == [run_id]
    assert store.request_cancel(run_id) == "cancelled"
    assert store.stopped == [run_id] and "killed" in store.get(run_id).error


def _process_state(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rfind(")") + 2]


def _write_lock_free(path: Path) -> bool:
    conn = sqlite3.connect(path, timeout=0.5, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def freeze(pid: int, db: Path) -> None:
    """SIGSTOP ``pid`` at a moment it holds no write lock on the store (retrying if it does)."""
    for _ in range(50):
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: _process_state(pid) == "T")
        if _write_lock_free(db):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} always held the store's write lock")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_frozen_worker_is_reported_stuck_and_cancelling_kills_it(env, monkeypatch, capsys):
    from recsys_core.cli import main

    monkeypatch.setenv("RECSYS_HEARTBEAT_SECONDS", "0.1")
    # Far above the heartbeat interval, so a busy machine never looks stuck; the test
    # makes a frozen worker's last heartbeat old instead of waiting for it to age.
    monkeypatch.setenv("RECSYS_STUCK_SECONDS", "120")
    monkeypatch.setenv("RECSYS_RUNS_DB", str(env / "runs.sqlite"))
    store = RunStore(env / "runs.sqlite")
    assert store.stuck_after == 120

    def age_heartbeat() -> None:
        with store.transaction() as tx:
            tx.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time() - 600, run_id))

    try:
        spec = {"model": "fake", "artifact": "frozen", "steps": 10**6, "pause": 0.01}
        run_id = jobs.submit(spec, store)
        rec = wait_for(lambda: running_with_metrics(store, run_id))
        freeze(rec.pid, store.path)
        try:
            age_heartbeat()
            stuck = store.get(run_id)
            assert stuck.status == "stuck" and f"pid {rec.pid}" in stuck.error
            assert [r.id for r in jobs.list_runs("stuck", store)] == [run_id]
            capsys.readouterr()
            assert main(["runs", "--json"]) == 0  # the CLI shows it
            out = capsys.readouterr().out.strip().splitlines()
            assert json.loads(out[-1])["runs"][0]["status"] == "stuck"
            assert any("stuck" in line and "heartbeat" in line for line in out[:-1])
        finally:
            os.kill(rec.pid, signal.SIGCONT)
        # Alive again: its next heartbeat makes it running.
        back = wait_for(lambda: (r := store.get(run_id)).status == "running" and r)
        assert back.error is None

        freeze(rec.pid, store.path)
        age_heartbeat()
        assert store.get(run_id).status == "stuck"
        assert jobs.cancel(run_id, store) == "cancelled"  # it cannot react: killed
        wait_for(lambda: not jobs.procs.is_alive(rec.pid, None))
        after = store.get(run_id)
        assert after.status == "cancelled"
        assert "stuck" in after.error and "killed" in after.error
    finally:
        _kill_leftovers(store)


V1_RUNS = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, spec TEXT NOT NULL,
    model TEXT NOT NULL, dataset TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('queued', 'running', 'finished', 'failed', 'cancelled', 'interrupted')),
    created REAL NOT NULL, started REAL, finished REAL, pid INTEGER, pid_token TEXT,
    owner_pid INTEGER, owner_token TEXT, heartbeat REAL, error TEXT,
    progress_done REAL NOT NULL DEFAULT 0, progress_total REAL NOT NULL DEFAULT 0,
    progress_message TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0,
    summary TEXT, keys TEXT
);
CREATE UNIQUE INDEX runs_live_key ON runs(key) WHERE status IN ('queued', 'running', 'finished');
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
    epoch INTEGER, loss REAL, auc REAL, auc_seen REAL, lr REAL, elapsed REAL,
    epoch_end INTEGER NOT NULL DEFAULT 0
);
INSERT INTO runs (key, spec, model, dataset, status, created)
    VALUES ('old', '{}', 'sgns', 'd', 'finished', 1.0);
INSERT INTO metrics (run_id, step, loss) VALUES (1, 0, 0.5), (1, 1, 0.4);
PRAGMA user_version = 1;
"""


def test_a_version_1_store_gains_the_stuck_status_and_keeps_its_runs(env):
    path = env / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(V1_RUNS)
    conn.close()
    store = RunStore(path, recover=False)
    assert store.get(1).status == "finished"
    assert len(store.metric_rows(1)) == 2  # not cascaded away by the rebuild
    run_id, _ = store.enqueue({"model": "fake"}, "new", "fake", "")
    store.mark(run_id, "stuck", "test")  # the new status is accepted
    assert store.find_live("new").id == run_id
    assert store.enqueue({"model": "fake"}, "new", "fake", "") == (run_id, False)


def test_sigterm_marks_interrupted(store):
    run_id = jobs.submit({"model": "fake", "artifact": "t", "steps": 10**6, "pause": 0.01}, store)
    rec = wait_for(lambda: running_with_metrics(store, run_id))
    os.kill(rec.pid, signal.SIGTERM)
    after = wait_for(lambda: (r := store.get(run_id)).status != "running" and r)
    assert after.status == "interrupted" and "SIGTERM" in after.error
    assert after.executor == "local" and after.host == socket.gethostname()


def test_sigterm_removes_the_file_being_written(store):
    run_id = jobs.submit({"model": "fake", "artifact": "h", "hold_tmp": True}, store)
    holding = _cache_root() / "holding"
    tmp = Path(wait_for(lambda: holding.exists() and holding.read_text()))
    pid = store.get(run_id).pid
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: (r := store.get(run_id)).status != "running" and r).status == (
        "interrupted"
    )
    wait_for(lambda: not jobs.procs.is_alive(pid, None))
    assert not tmp.exists()


def test_a_finished_worker_is_reaped_at_once(store):
    from recsys_core.jobs import procs

    run_id = jobs.submit({"model": "fake", "artifact": "r", "steps": 2}, store)
    pid = jobs.wait(run_id, timeout=HANG_SECONDS, store=store).pid
    # Linger 0: the worker exits; its parent (this process) collects it, so no zombie
    # stays in the process table until the next spawn.
    wait_for(lambda: not Path(f"/proc/{pid}").exists())
    assert all(child.pid != pid for child in procs._CHILDREN)


def test_reading_the_store_settles_runs_but_starts_no_process(env):
    from recsys_core.jobs import procs

    store = RunStore(env / "runs.sqlite", recover=False)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a worker that died
    run_id, _ = store.enqueue({"model": "fake"}, "dead", "fake", "")
    store.claim(gone.pid, None, os.getpid(), procs.process_token(os.getpid()))
    waiting, _ = store.enqueue({"model": "fake", "n": 2}, "waiting", "fake", "")
    children = list(procs._CHILDREN)
    rec = store.get(run_id)  # a reader meets the dead worker's run
    assert rec.status == "failed" and "worker process died" in rec.error
    assert [r.status for r in store.list()] == ["queued", "failed"]
    assert procs._CHILDREN == children and store.idle_workers() == []  # nothing started
    assert store.get(waiting).status == "queued"


APP = """
import sys, time
from recsys_core import jobs
store = jobs.RunStore(sys.argv[1])
print(jobs.submit({"model": "fake", "artifact": "app", "steps": 10**6, "pause": 0.01}, store),
      flush=True)
time.sleep(120)
"""


def test_store_restart_marks_leftover_runs_interrupted(env, store):
    app = subprocess.Popen(
        [sys.executable, "-c", APP, str(store.path)], stdout=subprocess.PIPE, cwd=REPO, text=True
    )
    try:
        run_id = int(app.stdout.readline())
        rec = wait_for(lambda: running_with_metrics(store, run_id))
    finally:
        app.kill()  # the app goes first, then its worker: everything stopped
        app.wait()
    os.kill(rec.pid, signal.SIGKILL)
    wait_for(lambda: not jobs.procs.is_alive(rec.pid, None))
    reopened = RunStore(store.path)  # what the app does when it starts again
    after = reopened.get(run_id)
    assert after.status == "interrupted"
    assert "restart" in after.error.lower()
    new_id = jobs.restart(run_id, reopened)
    assert new_id != run_id
    wait_for(lambda: running_with_metrics(reopened, new_id))  # runs again from the start
    jobs.cancel(new_id, reopened)
    assert jobs.wait(new_id, timeout=HANG_SECONDS, store=reopened).status == "cancelled"


SUBMITTER = """
import sys, time
from pathlib import Path
from recsys_core import jobs
store = jobs.RunStore(sys.argv[1])
Path(sys.argv[2]).touch()  # ready: imports done, store open
while not Path(sys.argv[3]).exists():  # both submit the moment the test says go
    time.sleep(0.001)
print(jobs.submit({"model": "fake", "artifact": "same", "steps": 30}, store), flush=True)
"""


def test_concurrent_submits_of_the_same_settings_give_one_run(store, tmp_path):
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    procs_ = [
        subprocess.Popen(
            [sys.executable, "-c", SUBMITTER, str(store.path), str(flag), str(go)],
            stdout=subprocess.PIPE,
            cwd=REPO,
            text=True,
        )
        for flag in ready
    ]
    wait_for(lambda: all(flag.exists() for flag in ready))
    go.touch()
    ids = [int(p.communicate(timeout=HANG_SECONDS)[0].strip()) for p in procs_]
    assert ids[0] == ids[1]
    assert len(store.list()) == 1
    assert jobs.wait(ids[0], timeout=HANG_SECONDS, store=store).status == "finished"


def test_corrupt_artifact_is_detected_and_rebuilt(store):
    first = jobs.submit({"model": "fake", "artifact": "shared", "steps": 5}, store)
    assert jobs.wait(first, timeout=HANG_SECONDS, store=store).status == "finished"
    path = Path(os.environ["RECSYS_CACHE_DIR"]) / "fake" / "shared" / "data.bin"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    assert "corrupt" in jobs.verify(first, store)[0]
    # The next run that uses the artifact rebuilds it instead of loading it.
    second = jobs.submit({"model": "fake", "artifact": "shared", "steps": 6}, store)
    assert jobs.wait(second, timeout=HANG_SECONDS, store=store).status == "finished"
    assert builds("shared") == 2
    assert path.read_bytes() == bytes(range(256)) * 64
    assert jobs.verify(first, store) == [] and jobs.verify(second, store) == []
    # Truncation is caught too.
    path.write_bytes(path.read_bytes()[:10])
    assert "truncated" in jobs.verify(second, store)[0]


def test_two_workers_write_metrics_at_once(env):
    store = RunStore(env / "runs.sqlite", max_concurrent=2)
    try:
        # Each run starts training only once the other executes too: two at once, always.
        a = jobs.submit(
            {"model": "fake", "artifact": "w1", "steps": 400, "pause": 0.001, "meet": "w2"}, store
        )
        b = jobs.submit(
            {"model": "fake", "artifact": "w2", "steps": 400, "pause": 0.001, "meet": "w1"}, store
        )
        for run_id in (a, b):
            rec = jobs.wait(run_id, timeout=HANG_SECONDS, store=store)
            assert rec.status == "finished", rec.error
            assert jobs.metrics(run_id, store=store)["step"].tolist() == list(range(400))
        assert store.get(a).pid != store.get(b).pid
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    finally:
        _kill_leftovers(store)


def test_delete_frees_artifacts_no_other_run_uses(store):
    a = jobs.submit({"model": "fake", "artifact": "both", "steps": 3}, store)
    b = jobs.submit({"model": "fake", "artifact": "both", "steps": 4}, store)
    for run_id in (a, b):
        assert jobs.wait(run_id, timeout=HANG_SECONDS, store=store).status == "finished"
    folder = Path(os.environ["RECSYS_CACHE_DIR"]) / "fake" / "both"
    assert jobs.delete(a, store) == []  # b still uses it
    assert folder.is_dir()
    with pytest.raises(KeyError):
        store.get(a)
    assert jobs.delete(b, store) == ["fake/both"]
    assert not folder.exists()
    assert jobs.metrics(b, store=store).empty


def test_a_runner_that_cannot_load_fails_the_run_with_the_reason(store, monkeypatch):
    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{HERE}:no_such_function")
    run_id = jobs.submit({"model": "fake", "artifact": "n"}, store)
    rec = jobs.wait(run_id, timeout=HANG_SECONDS, store=store)
    assert rec.status == "failed" and "no_such_function" in rec.error


def _models_available() -> bool:
    # find_spec, not import: workers load this module and must not import the model stack.
    from importlib.util import find_spec

    return all(
        find_spec(name) is not None
        for name in ("recsys_core.models.gensim_w2v", "recsys_core.data.synthetic", "gensim")
    )


@pytest.mark.skipif(not _models_available(), reason="gensim-sg or the synthetic data missing")
def test_real_pipeline_run_end_to_end_with_corruption_and_cli(store, monkeypatch, capsys):
    import numpy as np

    from recsys_core.cli import main
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.pipeline import RunSpec

    monkeypatch.delenv("RECSYS_JOBS_RUNNER")
    monkeypatch.setenv("RECSYS_RUNS_DB", str(store.path))
    spec = RunSpec.create(
        "gensim-sg",
        dataset=DatasetSettings(source="synthetic", products=600),
        model_params={"epochs": 1, "vector_size": 16, "workers": 1},
    )
    run_id = jobs.submit(spec, store)
    rec = jobs.wait(run_id, timeout=HANG_SECONDS, store=store)
    assert rec.status == "finished", rec.error
    assert set(rec.keys) == {"dataset", "split", "walks", "run"}
    assert 0.0 <= rec.summary["auc_all"] <= 1.0 and rec.summary["k"] == 10
    assert len(jobs.metrics(run_id, store=store)) >= 1
    kinds = {r.folder.split("/")[0] for r in store.artifacts(run_id)}
    assert kinds == {"dataset", "split", "walks", "run"}
    outcome = jobs.load_outcome(run_id, store)
    assert outcome.embeddings.vectors.shape[1] == 16
    assert outcome.evaluation.auc_all == pytest.approx(rec.summary["auc_all"])
    assert jobs.submit(spec, store) == run_id  # same settings: reused

    # A corrupt vectors file is caught on load and never used; the run is marked failed
    # so that restart() rebuilds it (the rebuild itself: test_corrupt_artifact_...).
    vectors = Path(os.environ["RECSYS_CACHE_DIR"]) / "run" / rec.keys["run"] / "embeddings"
    vectors = vectors / "vectors.npy"
    raw = bytearray(vectors.read_bytes())
    raw[-1] ^= 0xFF
    vectors.write_bytes(bytes(raw))
    with pytest.raises(jobs.ArtifactError, match=r"[Rr]estart"):
        jobs.load_outcome(run_id, store)
    failed = store.get(run_id)
    assert failed.status == "failed" and "vectors.npy" in failed.error
    marker = vectors.parents[1] / "done.json"
    assert not marker.exists()  # the pipeline will train again, not load
    assert np.isfinite(outcome.embeddings.vectors).all()

    # The CLI sees the same store; every command ends with one JSON line.
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["id"] for r in listed["runs"]] == [run_id]
    assert main(["show", str(run_id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shown["status"] == "failed" and shown["metric_rows"] >= 1
    table = jobs.compare([run_id], store)
    assert table.loc[0, "vector_size"] == 16 and table.loc[0, "AUC all"] > 0
    assert main(["delete", str(run_id), "--json"]) == 0
    freed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["freed"]
    assert sorted(f.split("/")[0] for f in freed) == ["run", "walks"]  # dataset, split kept


@pytest.mark.skipif(not _models_available(), reason="the model stack is missing")
def test_stored_spec_decodes_to_the_same_settings():
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.evaluation.evaluate import EvalSettings
    from recsys_core.jobs.specs import spec_from_dict, submission
    from recsys_core.pipeline import RunSpec
    from recsys_core.walks import WalkSettings

    spec = RunSpec.create(
        "gensim-sg",
        dataset=DatasetSettings(source="synthetic", products=600, seed=3),
        walks=WalkSettings(walks_per_node=4, length=8, p=0.5, q=2.0),
        evaluation=EvalSettings(ranking_k=5),
        model_params={"epochs": 2, "window": 3},
    )
    stored = json.loads(json.dumps(submission(spec).spec))  # what the store keeps
    decoded = spec_from_dict(stored)
    assert decoded == spec and decoded.key() == spec.key()


def test_mlflow_mirror_is_off_unless_configured(monkeypatch):
    from recsys_core.jobs import mlflow_mirror

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert mlflow_mirror.start(object()) is None
    flat: dict = {}
    mlflow_mirror._flatten("", {"model": "sgns", "model_params": [["epochs", 2]]}, flat)
    assert flat == {"model": "sgns", "model_params.epochs": 2}


def test_mlflow_mirror_logs_a_run(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from recsys_core.jobs import mlflow_mirror

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    record = type("R", (), {"id": 1, "model": "sgns", "key": "k", "spec": {"model": "sgns"}})()
    mirror = mlflow_mirror.start(record)
    assert mirror is not None
    mirror.log_metrics([(0, 0, 1.0, 0.6, 0.6, 0.02, 0.1, 0)])
    mirror.end("finished", {"auc_all": 0.7})
    runs = mlflow.search_runs(search_all_experiments=True)
    assert len(runs) == 1 and runs["metrics.final.auc_all"].iloc[0] == pytest.approx(0.7)


def test_opening_and_reading_the_default_store_starts_no_worker(env, monkeypatch):
    from recsys_core.jobs import api, procs

    monkeypatch.setenv("RECSYS_RUNS_DB", str(env / "runs.sqlite"))
    monkeypatch.setattr(api, "_STORES", {})  # as a fresh app process
    store = RunStore(env / "runs.sqlite", recover=False)
    waiting, _ = store.enqueue({"model": "fake", "artifact": "od", "steps": 2}, "od", "fake", "")
    children = list(procs._CHILDREN)
    assert [r.id for r in jobs.list_runs()] == [waiting]  # a page view, `runs` in the CLI
    assert jobs.get_run(waiting).status == "queued"
    assert procs._CHILDREN == children and store.idle_workers() == []
    try:
        jobs.recover()  # what an explicit action calls: now a worker takes the run
        assert jobs.wait(waiting, timeout=HANG_SECONDS, store=store).status == "finished"
    finally:
        _kill_leftovers(store)
