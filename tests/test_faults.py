"""Faults on purpose: killed workers, damaged artifacts, a full disk, two servers at once.

After each: nothing finished is lost, nothing stays queued or running, and every failure
is one sentence in the run's record. Kill points are drawn from a seeded generator and
taken by the worker itself (at its n-th progress report, training event or file write),
so where a run dies does not depend on the machine's speed; no test measures time, and
deadlines only catch hangs.

Workers load this file as their runner (``RECSYS_JOBS_RUNNER``): its top level stays
light.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
HANG_SECONDS = 600.0  # catches a hang, never a slow machine
SEED = 18


def killing_runner(spec: dict, on_progress, callback):
    """The pipeline runner, which SIGKILLs its own worker at ``spec["kill"]``.

    ``kill = [where, n]``: at the n-th progress report ("progress"), training event
    ("event") or flushed file ("write": after the temporary file is written and flushed,
    before it is renamed into place). Without it, the plain pipeline runner.
    """
    from recsys_core.jobs.runners import pipeline_runner

    spec = dict(spec)
    kill = spec.pop("kill", None)
    if not kill:
        return pipeline_runner(spec, on_progress, callback)
    where, n = kill
    seen = {"progress": 0, "event": 0, "write": 0}

    def tick(kind: str) -> None:
        seen[kind] += 1
        if kind == where and seen[kind] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    if where == "write":
        from recsys_core.common import integrity

        flush = integrity.fsync_path

        def fsync_then_die(path: Path) -> None:
            flush(path)
            if Path(path).is_file():
                tick("write")

        integrity.fsync_path = fsync_then_die

    def progress(done, total, message):
        tick("progress")
        on_progress(done, total, message)

    def event(ev):
        tick("event")
        return callback(ev)

    return pipeline_runner(spec, progress, event)


def _expected(spec: dict) -> list:
    from recsys_core.jobs.runners import pipeline_runner

    return pipeline_runner.expected_dirs({k: v for k, v in spec.items() if k != "kill"})


killing_runner.expected_dirs = _expected


# -- helpers -------------------------------------------------------------------------------


def one_sentence(text: str | None) -> bool:
    """The record's message is one readable sentence (its first line; a traceback may
    follow below it for the details view)."""
    if not text:
        return False
    first = text.splitlines()[0]
    breaks = re.findall(r"[.!?](?:\s|$)", first)
    return "Traceback" not in first and " object at 0x" not in first and len(breaks) <= 1


def wait_for(predicate, timeout: float = HANG_SECONDS, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not met before the hang deadline")


def leftover_temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp") if p.is_file()]


def every_artifact_intact(root: Path) -> None:
    """Every artifact with a done marker matches its manifest."""
    from recsys_core.common import cache
    from recsys_core.jobs import housekeeping

    for art in housekeeping.inventory(root):
        if art.complete:
            assert cache.artifact_problem(art.path) is None, art.folder


def kill_workers(store) -> None:
    from recsys_core.jobs import procs

    pids = [r.pid for r in store.list() if r.active and r.pid] + store.idle_workers()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    wait_for(lambda: not any(procs.is_alive(pid, None) for pid in pids))


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RECSYS_RUNS_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{HERE}:killing_runner")
    monkeypatch.setenv("RECSYS_WORKER_NICE", "0")
    monkeypatch.setenv("RECSYS_WORKER_LINGER", "3600")  # one warm worker; killed at the end
    monkeypatch.setenv("RECSYS_CANCEL_GRACE", "60")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RECSYS_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RECSYS_MAX_CONCURRENT", raising=False)
    return tmp_path


@pytest.fixture
def store(env):
    from recsys_core.jobs import RunStore

    s = RunStore(env / "runs.sqlite")
    yield s
    kill_workers(s)


def small_spec(i: int, products: int = 300):
    """Small, fast runs that share datasets and splits: MF, and skip-gram on short walks."""
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.pipeline import RunSpec
    from recsys_core.walks import WalkSettings

    dataset = DatasetSettings(source="synthetic", products=products, seed=i % 2)
    if i % 3 == 2:
        return RunSpec.create(
            "sgns",
            dataset=dataset,
            walks=WalkSettings(walks_per_node=2, length=6, p=1.0, q=1.0, seed=i),
            model_params={"epochs": 1, "vector_size": 8, "threads": 1},
        )
    return RunSpec.create("mf", dataset=dataset, model_params={"epochs": 1, "dim": 4 + i})


def as_job(spec, kill=None) -> dict:
    from recsys_core.jobs.specs import submission

    payload = submission(spec).spec
    return {**payload, "kill": kill} if kill else payload


# -- killed workers ------------------------------------------------------------------------


def test_sigkill_at_seeded_points_of_ten_runs_loses_nothing(store):
    from recsys_core import jobs

    rng = random.Random(SEED)
    limits = {"progress": 14, "event": 3, "write": 10}
    killed, finished = [], []
    for i in range(10):
        where = rng.choice(sorted(limits))
        point = [where, rng.randint(1, limits[where])]
        run_id = jobs.submit(as_job(small_spec(i), point), store)
        rec = jobs.wait(run_id, timeout=HANG_SECONDS, store=store)
        assert rec.status in ("failed", "finished"), (point, rec.status, rec.error)
        if rec.status == "failed":
            assert one_sentence(rec.error), rec.error
            assert "worker process died" in rec.error, rec.error
            killed.append(point)
        # The same settings without the kill: whatever the dead worker left is rebuilt.
        clean = jobs.submit(as_job(small_spec(i)), store)
        done = jobs.wait(clean, timeout=HANG_SECONDS, store=store)
        assert done.status == "finished", (point, done.error)
        finished.append(clean)
    assert len(killed) >= 5, killed  # most points fall inside a run

    assert not [r.id for r in store.list() if r.active]
    for run_id in finished:  # every result loads and matches its recorded checksums
        assert jobs.verify(run_id, store) == []
        outcome = jobs.load_outcome(run_id, store)
        assert 0.0 <= outcome.evaluation.auc_all <= 1.0
    root = Path(os.environ["RECSYS_CACHE_DIR"])
    every_artifact_intact(root)
    assert leftover_temporary_files(root) == []  # each killed write was rebuilt afresh


# -- damaged artifacts ---------------------------------------------------------------------


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "corrupt":
        raw = bytearray(data)
        raw[len(raw) // 2] ^= 0xFF  # same size, other bytes
        path.write_bytes(bytes(raw))
    else:
        path.unlink()


def _largest_file(folder: Path) -> Path:
    from recsys_core.common import integrity

    return max(integrity.content_files(folder), key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("kind", ["dataset", "split", "walks", "run"])
def test_truncated_corrupt_or_missing_artifacts_are_rebuilt(env, kind, caplog):
    from recsys_core import pipeline
    from recsys_core.cluster.shards import load_walks
    from recsys_core.common import cache, integrity

    spec = small_spec(2)  # skip-gram: every kind of artifact
    first = pipeline.run(spec)
    folder = cache.artifact_dir(kind, first.keys[kind])
    names = sorted(p.relative_to(folder) for p in integrity.content_files(folder))
    walks = load_walks(folder) if kind == "walks" else None

    def hit_again() -> bool:
        if kind == "walks":  # a finished run needs no walks: ask for them directly
            prepared = pipeline.prepare(spec.dataset, spec.split)
            return pipeline.make_walks(prepared, spec.walk_settings())[2]
        return pipeline.run(spec).cache_hits[kind]

    for how in ("truncate", "corrupt", "delete"):
        victim = _largest_file(folder)
        _damage(victim, how)
        caplog.clear()
        assert hit_again() is False, (kind, how)  # no exception: rebuilt with a note
        notes = [r.getMessage() for r in caplog.records if "unusable" in r.getMessage()]
        assert notes and kind in notes[0], (kind, how, caplog.text)
        assert cache.artifact_problem(folder) is None
        assert victim.is_file()
    assert sorted(p.relative_to(folder) for p in integrity.content_files(folder)) == names
    if walks is not None:  # a seeded stage: rebuilt exactly as it was
        assert (load_walks(folder) == walks).all()


@pytest.mark.parametrize("how", ["truncate", "corrupt", "delete"])
def test_a_damaged_synthetic_file_is_written_again(env, how):
    from recsys_core.data.synthetic import SyntheticSettings, synthetic_file

    settings = SyntheticSettings(products=300, seed=0)
    path = synthetic_file(settings)
    original = path.read_bytes()
    _damage(path, how)
    assert synthetic_file(settings) == path
    assert path.read_bytes() == original  # deterministic: the very same file


def test_an_artifact_from_before_manifests_loads_and_heals(env, caplog):
    """A done marker without a manifest is trusted; when its file then fails to load
    (a truncated .npz raised BadZipFile before), it is rebuilt, not raised."""
    from recsys_core import pipeline
    from recsys_core.common import cache

    spec = small_spec(2)
    first = pipeline.run(spec)
    folder = cache.artifact_dir("walks", first.keys["walks"])
    marker = folder / cache.DONE_MARKER
    cache.save_json(marker, {"kind": "walks", "key": first.keys["walks"]})  # old style
    prepared = pipeline.prepare(spec.dataset, spec.split)
    assert pipeline.make_walks(prepared, spec.walk_settings())[2] is True
    _damage(folder / "walks.npz", "truncate")
    caplog.clear()
    assert pipeline.make_walks(prepared, spec.walk_settings())[2] is False
    assert "BadZipFile" in caplog.text
    assert "files" in cache.load_json(marker)  # rebuilt with a manifest


@pytest.mark.parametrize("name", ["evaluation", "embeddings"])
def test_a_damaged_finished_run_is_a_sentence_and_restart_rebuilds_it(store, name):
    from recsys_core import jobs
    from recsys_core.common import cache

    run_id = jobs.submit(as_job(small_spec(0)), store)
    rec = jobs.wait(run_id, timeout=HANG_SECONDS, store=store)
    assert rec.status == "finished", rec.error
    folder = cache.artifact_dir("run", rec.keys["run"]) / name
    _damage(_largest_file(folder), "truncate")
    with pytest.raises(jobs.ArtifactError) as caught:
        jobs.load_outcome(run_id, store)
    failed = store.get(run_id)
    assert failed.status == "failed" and one_sentence(failed.error), failed.error
    assert str(caught.value).endswith(failed.error)
    again = jobs.restart(run_id, store)
    assert jobs.wait(again, timeout=HANG_SECONDS, store=store).status == "finished"
    assert jobs.load_outcome(again, store).embeddings.vectors.shape[0] == 300


# -- one writer per artifact ---------------------------------------------------------------

BUILDER = """
import sys, time
from pathlib import Path
from recsys_core.common import cache
here = Path(sys.argv[1])
name = sys.argv[2]

def build():
    (here / f"building-{name}").touch()
    while not (here / "release").exists():  # hold the build until the test says so
        time.sleep(0.01)
    return name

def waiting(done, total, message):
    (here / f"waiting-{name}").touch()

value, hit = cache.cached(
    "shared", "k", build=build,
    save=lambda folder, v: cache.save_json(folder / "value.json", v),
    load=lambda folder: cache.load_json(folder / "value.json"),
    on_progress=waiting,
)
print(value, hit, flush=True)
"""


def test_two_processes_building_one_artifact_take_turns(env):
    here = env / "flags"
    here.mkdir()

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", BUILDER, str(here), name],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    first, second = start("a"), None
    try:
        wait_for(lambda: (here / "building-a").exists())
        second = start("b")
        wait_for(lambda: (here / "waiting-b").exists())  # b waits for a's lock
        assert not (here / "building-b").exists()
        (here / "release").touch()
        out_a = first.communicate(timeout=HANG_SECONDS)[0].split()
        out_b = second.communicate(timeout=HANG_SECONDS)[0].split()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert out_a == ["a", "False"]  # a built it
    assert out_b == ["a", "True"]  # b waited, then loaded a's
    assert not (here / "building-b").exists()


SERVER = """
import json, sys, time
from pathlib import Path
from recsys_core import jobs
store = jobs.RunStore(sys.argv[1])  # opens (and recovers) the store as the app does
specs = json.loads(Path(sys.argv[2]).read_text())
Path(sys.argv[3]).touch()
while not Path(sys.argv[4]).exists():  # both servers submit at once
    time.sleep(0.001)
ids = [jobs.submit(spec, store) for spec in specs]
records = [jobs.wait(i, timeout=600, store=store) for i in ids]
print(json.dumps([[r.id, r.status, r.error] for r in records]), flush=True)
"""


def test_two_servers_on_one_store_and_cache(store, monkeypatch):
    from recsys_core import jobs

    monkeypatch.setenv("RECSYS_MAX_CONCURRENT", "2")  # workers of both build at once
    specs = [as_job(small_spec(i)) for i in (0, 1, 2, 3, 4)]
    here = Path(os.environ["RECSYS_CACHE_DIR"]).parent / "servers"
    here.mkdir()
    lists = []
    for n, order in enumerate((specs, specs[::-1])):
        path = here / f"specs{n}.json"
        path.write_text(json.dumps(order))
        lists.append(path)
    servers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVER,
                *map(str, (store.path, path, here / f"ready{n}", here / "go")),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for n, path in enumerate(lists)
    ]
    try:
        wait_for(lambda: all((here / f"ready{n}").exists() for n in range(2)))
        (here / "go").touch()
        outs = [json.loads(s.communicate(timeout=HANG_SECONDS)[0]) for s in servers]
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
    first, second = outs[0], outs[1][::-1]
    assert [r[0] for r in first] == [r[0] for r in second]  # one run per settings
    assert all(r[1] == "finished" for r in first + second), outs
    assert len(store.list()) == len(specs)
    for run_id, _, _ in first:
        assert store.get(run_id).executor == "local" and store.get(run_id).host
        assert jobs.verify(run_id, store) == []
        jobs.load_outcome(run_id, store)
    every_artifact_intact(Path(os.environ["RECSYS_CACHE_DIR"]))


# -- a full disk ---------------------------------------------------------------------------


def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    if not shutil.which("mount"):
        return "no mount command"
    return None


@pytest.mark.skipif(_can_mount() is not None, reason=str(_can_mount()))
def test_a_full_disk_fails_the_run_with_a_sentence_and_loses_nothing(store, env, monkeypatch):
    from recsys_core import jobs

    disk = env / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("this machine refuses to mount a tmpfs")
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(disk))  # the run store stays outside
    try:
        small = jobs.submit(as_job(small_spec(0)), store)
        assert jobs.wait(small, timeout=HANG_SECONDS, store=store).status == "finished"
        # Its walks alone need more than the megabyte: the disk fills up mid-run.
        big = jobs.submit(as_job(small_spec(2, products=3000)), store)
        rec = jobs.wait(big, timeout=HANG_SECONDS, store=store)
        assert rec.status == "failed", rec.error
        assert one_sentence(rec.error) and "is full" in rec.error.splitlines()[0], rec.error
        assert not [r.id for r in store.list() if r.active]
        assert leftover_temporary_files(disk) == []  # the failed write cleaned up
        every_artifact_intact(disk)
        assert jobs.load_outcome(small, store).evaluation.auc_all > 0  # nothing lost
        # More room, and the same run goes through.
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = jobs.restart(big, store)
        assert jobs.wait(again, timeout=HANG_SECONDS, store=store).status == "finished"
    finally:
        kill_workers(store)
        subprocess.run(["umount", "-l", str(disk)])


# -- what faults leave behind: `cache` and `cache prune` -------------------------------------


def test_cache_command_lists_and_prunes_only_orphans(store, capsys):
    from recsys_core import jobs
    from recsys_core.cli import main
    from recsys_core.common import cache, integrity

    run_id = jobs.submit(as_job(small_spec(0)), store)
    rec = jobs.wait(run_id, timeout=HANG_SECONDS, store=store)
    assert rec.status == "finished", rec.error
    root = cache.cache_root()
    # What crashes leave: a temporary file, a folder without a done marker, a run
    # artifact whose run record is gone; and one folder a live process is writing.
    tmp = cache.artifact_dir("split", rec.keys["split"]) / ".split.npz.123.tmp"
    tmp.write_bytes(b"half")
    incomplete = cache.artifact_dir("walks", "deadbeef")
    incomplete.mkdir(parents=True)
    (incomplete / "walks.npz").write_bytes(b"half")
    unknown = cache.artifact_dir("run", "0123456789abcdef")
    shutil.copytree(cache.artifact_dir("run", rec.keys["run"]), unknown)
    busy = cache.artifact_dir("walks", "busy")
    busy.mkdir(parents=True)

    capsys.readouterr()
    assert main(["cache", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(listed["kinds"]) >= {"dataset", "split", "run", "walks"}
    assert listed["kinds"]["run"]["count"] == 2 and listed["bytes"] > 0
    expected = {
        tmp.relative_to(root).as_posix(),
        incomplete.relative_to(root).as_posix(),
        unknown.relative_to(root).as_posix(),
    }
    with integrity.exclusive(integrity.lock_path(root, "walks", "busy")):
        assert main(["cache", "prune", "--orphans", "--dry-run", "--json"]) == 0
        planned = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert {r["path"] for r in planned["removed"]} == expected
        assert tmp.exists() and unknown.exists()  # a dry run removes nothing
        assert main(["cache", "prune", "--orphans", "--json"]) == 0
        done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert {r["path"] for r in done["removed"]} == expected
        assert busy.is_dir()  # being written: kept
    assert not tmp.exists() and not incomplete.exists() and not unknown.exists()
    assert jobs.verify(run_id, store) == [] and jobs.load_outcome(run_id, store)
    # Old: everything is younger than a day; nothing goes.
    assert main(["cache", "prune", "--older-than", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["removed"] == []
    assert main(["cache", "prune", "--older-than", "0", "--dry-run", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["removed"]
    assert f"run/{rec.keys['run']}" in {r["path"] for r in planned}


def test_private_ray_folders_of_dead_owners_are_removed(tmp_path):
    from recsys_core.cluster import executor

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"{executor.FOLDER_PREFIX}dead"
    live = tmp_path / f"{executor.FOLDER_PREFIX}live"
    foreign = tmp_path / f"{executor.FOLDER_PREFIX}no-owner-file"
    for folder, pid in ((dead, gone.pid), (live, os.getpid()), (foreign, None)):
        (folder / "tmp").mkdir(parents=True)
        if pid is not None:
            (folder / executor.OWNER_FILE).write_text(f"{pid} {executor._start_time(pid)}")
    assert executor.remove_stale_folders(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and foreign.exists()
