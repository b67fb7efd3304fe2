"""Dataset builds and projections as store jobs: kinds, dedupe, lanes, cancel, listing.

Real worker processes and a real SQLite store on small data; the worker test that
cancels a build runs a :class:`~recsys_core.jobs.worker.Worker` in this process, so the
cancel lands at a chosen progress report. No test measures time: waits end on a status,
and their deadlines only catch hangs.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from recsys_core import jobs
from recsys_core.jobs import BuildSpec, ProjectionSpec, RunStore

HANG_SECONDS = 300.0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RECSYS_RUNS_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.delenv("RECSYS_JOBS_RUNNER", raising=False)
    monkeypatch.setenv("RECSYS_WORKER_NICE", "0")
    monkeypatch.setenv("RECSYS_CANCEL_GRACE", "60")
    monkeypatch.setenv("RECSYS_WORKER_LINGER", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def store(env: Path):
    s = RunStore(env / "runs.sqlite")
    yield s
    for pid in [r.pid for r in s.list() if r.active and r.pid] + s.idle_workers():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def build_spec(products: int = 600, seed: int = 0) -> BuildSpec:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.split import SplitSettings

    return BuildSpec(
        DatasetSettings(source="synthetic", products=products, seed=seed), SplitSettings()
    )


def wait_for(predicate, timeout: float = HANG_SECONDS, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not met in time")


def _cache() -> Path:
    return Path(os.environ["RECSYS_CACHE_DIR"])


# -- the store -------------------------------------------------------------------------------

V4_STORE = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, spec TEXT NOT NULL,
    model TEXT NOT NULL, dataset TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'stuck', 'finished',
        'failed', 'cancelled', 'interrupted')),
    created REAL NOT NULL, started REAL, finished REAL, pid INTEGER, pid_token TEXT,
    owner_pid INTEGER, owner_token TEXT, heartbeat REAL, error TEXT,
    progress_done REAL NOT NULL DEFAULT 0, progress_total REAL NOT NULL DEFAULT 0,
    progress_message TEXT NOT NULL DEFAULT '', cancel_requested INTEGER NOT NULL DEFAULT 0,
    summary TEXT, keys TEXT, executor TEXT, host TEXT
);
CREATE UNIQUE INDEX runs_live_key ON runs(key)
    WHERE status IN ('queued', 'running', 'stuck', 'finished');
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
    epoch INTEGER, loss REAL, auc REAL, auc_seen REAL, lr REAL, elapsed REAL,
    epoch_end INTEGER NOT NULL DEFAULT 0, ndcg REAL
);
INSERT INTO runs (key, spec, model, dataset, status, created)
    VALUES ('old', '{"model": "sgns"}', 'sgns', 'd', 'finished', 1.0);
INSERT INTO metrics (run_id, step, loss) VALUES (1, 0, 0.5), (1, 1, 0.4);
PRAGMA user_version = 4;
"""


def test_a_version_4_store_keeps_its_runs_as_model_runs(env: Path) -> None:
    path = env / "v4.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(V4_STORE)
    conn.close()
    store = RunStore(path, recover=False)
    old = store.get(1)
    assert old.kind == "model" and old.status == "finished"
    assert len(store.metric_rows(1)) == 2
    build_id, created = store.enqueue({"x": 1}, "build:k", "dataset build", "d", "build")
    assert created and store.get(build_id).kind == "build"
    assert [r.id for r in store.list(kind="model")] == [1]
    assert [r.id for r in store.list(kind="build")] == [build_id]
    assert [r.id for r in store.list()] == [build_id, 1]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 5
    with pytest.raises(ValueError, match="unknown job kind"):
        store.list(kind="nonsense")


def test_builds_have_a_lane_of_their_own(env: Path) -> None:
    """A training run holding the model slot never holds up a build; builds queue among
    themselves (one at a time with max_concurrent 1)."""
    store = RunStore(env / "runs.sqlite", recover=False, max_concurrent=1)
    train, _ = store.enqueue({"model": "fake"}, "train", "fake", "d")
    first, _ = store.enqueue({"x": 1}, "build:1", "dataset build", "d", "build")
    second, _ = store.enqueue({"x": 2}, "build:2", "dataset build", "d", "build")
    assert store.claim(None, None, None, None).id == train
    assert store.claim(None, None, None, None).id == first  # beside the training run
    assert store.claim(None, None, None, None) is None  # second waits for first
    assert store.finish(first, "finished")
    assert store.claim(None, None, None, None).id == second


def test_a_run_record_of_another_kind_is_no_run_spec(env: Path) -> None:
    store = RunStore(env / "runs.sqlite", recover=False)
    job, _ = store.enqueue(build_spec().as_dict(), "build:x", "dataset build", "d", "build")
    with pytest.raises(ValueError, match="not a model run"):
        store.get(job).run_spec()


# -- builds in worker processes ----------------------------------------------------------------


def test_a_build_job_is_deduplicated_listed_and_reused(store: RunStore, capsys) -> None:
    from recsys_core.cli import main
    from recsys_core.common import cache

    spec = build_spec()
    job = jobs.submit(spec, store)
    assert jobs.submit(build_spec(), store) == job  # queued or running: the same job
    rec = jobs.wait(job, timeout=HANG_SECONDS, store=store)
    assert rec.status == "finished", rec.error
    assert rec.kind == "build" and rec.model == "dataset build"
    assert rec.summary["products"] == 600
    assert jobs.submit(build_spec(), store) == job  # finished: reused
    for folder in spec.artifact_dirs():
        assert cache.artifact_problem(folder) is None
    assert {r.folder.split("/")[0] for r in store.artifacts(job)} == {"dataset", "split"}
    # Run pickers and comparisons read model runs only; the job list shows every kind.
    assert jobs.list_runs(store=store) == []
    assert [r.id for r in jobs.list_runs(store=store, kind=None)] == [job]
    assert [r.id for r in jobs.list_runs("finished", store, kind="build")] == [job]
    assert jobs.latest(spec.key(), store).id == job
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["runs"][0]["kind"] == "build"
    assert " build " in out[0] and "600 products" in out[1]
    assert main(["runs", "--kind", "model"]) == 0
    assert "no model jobs" in capsys.readouterr().out
    # A split found damaged (its marker dropped by a reader) is built again on submit.
    (spec.artifact_dirs()[1] / cache.DONE_MARKER).unlink()
    rebuilt = jobs.submit(build_spec(), store)
    assert rebuilt != job and "submitted again" in store.get(job).error
    assert jobs.wait(rebuilt, timeout=HANG_SECONDS, store=store).status == "finished"
    job = rebuilt
    # Deleting the job keeps the dataset and split (other runs use them).
    assert main(["delete", str(job), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["freed"] == []
    assert all(cache.artifact_problem(f) is None for f in spec.artifact_dirs())


def test_a_bad_dataset_fails_its_build_with_one_sentence(store: RunStore, env: Path) -> None:
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.split import SplitSettings

    folder = env / "not-movielens"
    folder.mkdir()
    (folder / "u.data").write_text("this is not a rating\n")
    spec = BuildSpec(DatasetSettings(source="movielens", path=str(folder)), SplitSettings())
    rec = jobs.wait(jobs.submit(spec, store), timeout=HANG_SECONDS, store=store)
    assert rec.status == "failed"
    assert rec.error.startswith("Could not build movielens")
    assert "\n" not in rec.error and "Traceback" not in rec.error and "Error:" not in rec.error


def test_a_queued_build_is_cancelled_at_once_and_can_be_submitted_again(env: Path, capsys) -> None:
    from recsys_core.cli import main

    store = RunStore(env / "runs.sqlite", recover=False)
    job, _ = store.enqueue(
        build_spec().as_dict(), build_spec().key(), "dataset build", "d", "build"
    )
    capsys.readouterr()
    assert main(["cancel", str(job), "--json"]) == 0  # the CLI cancels any kind of job
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["status"] == "cancelled"
    assert store.get(job).status == "cancelled"
    again, created = store.enqueue(
        build_spec().as_dict(), build_spec().key(), "dataset build", "d", "build"
    )
    assert created and again != job
    assert jobs.latest(build_spec().key(), store).id == again


def _progress_messages(spec: BuildSpec) -> list[str]:
    """The progress reports of a build of ``spec``, in order (built in this process)."""
    from recsys_core.jobs.tasks import build_runner

    seen: list[str] = []
    build_runner(spec.as_dict(), lambda d, t, m: seen.append(m), None)
    return seen


def _cancel_build_at(store: RunStore, spec: BuildSpec, stop_at: int) -> str:
    """Execute a build of ``spec`` in this process, cancelling it at its ``stop_at``-th
    progress report; the job's final status."""
    from recsys_core.jobs import tasks
    from recsys_core.jobs.worker import Worker

    job, _ = store.enqueue(spec.as_dict(), spec.key(), "dataset build", "d", "build")
    worker = Worker(store)
    calls = {"n": 0}
    real = tasks.build_runner

    def cancelling(spec_dict, on_progress, callback):
        def progress(done, total, message):
            calls["n"] += 1
            if calls["n"] == stop_at:
                store.request_cancel(job)
                # the worker's reporter sees the flag at its next poll
                assert worker.current.cancel.wait(HANG_SECONDS)
            on_progress(done, total, message)

        return real(spec_dict, progress, callback)

    original = dict(tasks.RUNNERS)
    tasks.RUNNERS["build"] = cancelling
    try:
        record = worker.claim()
        assert record is not None and record.id == job
        return worker.execute(record)
    finally:
        tasks.RUNNERS.update(original)


def test_a_cancelled_build_leaves_nothing_half_written(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel a build at several of its progress reports (each time in an empty cache):
    the job ends cancelled, and each of its artifacts is either complete and intact or
    not marked done; no temporary file stays."""
    from recsys_core.common import cache
    from recsys_core.jobs.worker import Worker

    spec = build_spec(products=700, seed=9)
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(env / "cache-count"))
    reports = len(_progress_messages(spec))
    assert reports >= 4
    for stop_at in range(1, reports + 1, max(1, reports // 6)):
        monkeypatch.setenv("RECSYS_CACHE_DIR", str(env / f"cache-{stop_at}"))
        store = RunStore(env / f"runs-{stop_at}.sqlite", recover=False)
        status = _cancel_build_at(store, spec, stop_at)
        assert status == "cancelled", (stop_at, store.list()[0].error)
        for folder in spec.artifact_dirs():
            problem = cache.artifact_problem(folder)
            assert problem in (None, "not built"), (stop_at, folder, problem)
        leftovers = list(_cache().rglob("*.tmp"))
        assert leftovers == [], leftovers
        # Submitted again, it builds what is missing and finishes.
        again, _ = store.enqueue(spec.as_dict(), spec.key(), "dataset build", "d", "build")
        worker = Worker(store)
        record = worker.claim()
        assert record.id == again and worker.execute(record) == "finished"
        assert all(cache.artifact_problem(f) is None for f in spec.artifact_dirs())


# -- projections ---------------------------------------------------------------------------------


def test_a_projection_job_maps_a_finished_run(store: RunStore, capsys) -> None:
    from recsys_core.cli import main
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.explore.projection import ProjectionSettings, stored_projection
    from recsys_core.pipeline import RunSpec

    spec = RunSpec.create(
        "mf", dataset=DatasetSettings(source="synthetic", products=600), model_params={"epochs": 1}
    )
    run = jobs.wait(jobs.submit(spec, store), timeout=HANG_SECONDS, store=store)
    assert run.status == "finished", run.error
    settings = ProjectionSettings(method="pca", max_points=200)
    job_spec = ProjectionSpec.of_run(run, settings)
    job = jobs.submit(job_spec, store)
    assert jobs.submit(ProjectionSpec.of_run(run, settings), store) == job
    rec = jobs.wait(job, timeout=HANG_SECONDS, store=store)
    assert rec.status == "finished", rec.error
    assert rec.kind == "projection" and rec.model == f"PCA of run #{run.id}"
    projection = stored_projection(run.key, settings)
    assert projection is not None and projection.sample_size == rec.summary["points"] == 200
    assert [r.id for r in jobs.list_runs(store=store)] == [run.id]  # pickers: the run only
    assert {r.kind for r in jobs.list_runs(store=store, kind=None)} == {"model", "projection"}
    # Its input is the run's own files: the job leaves no copy of the vectors behind.
    assert not list(_cache().rglob("input.npz"))
    # Deleting the job frees its projection; deleting the run fails a later map in a
    # sentence.
    capsys.readouterr()
    assert main(["delete", str(job), "--json"]) == 0
    freed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["freed"]
    assert [f.split("/")[0] for f in freed] == ["projection"]
    assert stored_projection(run.key, settings) is None
    jobs.delete(run.id, store)
    other = ProjectionSettings(method="pca", max_points=100)
    gone = jobs.wait(
        jobs.submit(ProjectionSpec.of_run(run, other), store), HANG_SECONDS, store=store
    )
    assert (
        gone.status == "failed"
        and gone.error == f"run {run.id} was deleted, so its vectors are gone"
    )
