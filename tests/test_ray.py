"""The Ray executor: identical walks, runs through Ray, and token authentication.

One local Ray (2 CPUs, token auth, no dashboard, ports from the 26379-26999 range) is
started once for the module and stopped after it. Skipped when Ray is not installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

from recsys_core import cluster
from recsys_core.cluster import shards
from recsys_core.cluster import walks as ray_walks
from recsys_core.graph import build_graph
from recsys_core.walks import WalkSettings, generate_walks
from recsys_core.walks.digest import walks_digest


def random_graph(n: int = 300, pairs: int = 1500, seed: int = 3):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, pairs)
    b = rng.integers(0, n, pairs)
    keep = a != b
    w = rng.uniform(0.5, 5.0, keep.sum()).astype(np.float32)
    return build_graph(n + 5, a[keep], b[keep], w)  # 5 isolated products: no walks


GRAPH = random_graph()
FIRST = WalkSettings(walks_per_node=3, length=8, seed=11)
NODE2VEC = WalkSettings(walks_per_node=2, length=8, p=0.5, q=2.0, seed=5)


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with 2 CPUs for the whole module; stopped after its last test."""
    ray = cluster.connect("local", num_cpus=2)
    yield ray
    cluster.shutdown()


@pytest.mark.parametrize("settings", [FIRST, NODE2VEC], ids=["first-order", "node2vec"])
@pytest.mark.parametrize("parts", [1, 3, 7])
def test_row_blocks_equal_single_machine_walks(settings, parts):
    """Without Ray: any split of the rows, walked block by block, is the same walks."""
    expected = generate_walks(GRAPH, settings)
    arrays = ray_walks.graph_arrays(GRAPH, settings)
    ranges = ray_walks.row_ranges(expected.shape[0], parts)
    got = np.concatenate([ray_walks.walk_rows(arrays, settings, lo, hi) for lo, hi in ranges])
    np.testing.assert_array_equal(got, expected)
    assert walks_digest(got) == walks_digest(expected)


def test_digest_same_for_parts_and_whole_and_differs_otherwise():
    walks = generate_walks(GRAPH, FIRST)
    parts = np.array_split(walks, 4)
    assert walks_digest(parts, n_rows=walks.shape[0]) == walks_digest(walks)
    other = generate_walks(GRAPH, FIRST.replace(seed=12))
    assert walks_digest(other) != walks_digest(walks)


@pytest.mark.parametrize("settings", [FIRST, NODE2VEC], ids=["first-order", "node2vec"])
def test_walks_on_ray_identical_for_any_worker_count(ray_local, settings):
    expected = generate_walks(GRAPH, settings)
    for n_tasks in (1, 2, 5):
        got = ray_walks.walks_on_ray(GRAPH, settings, n_tasks=n_tasks)
        np.testing.assert_array_equal(got, expected)


def test_walk_shards_written_by_workers_load_as_the_same_walks(ray_local, tmp_path):
    expected = generate_walks(GRAPH, NODE2VEC)
    rows, length = ray_walks.write_walk_shards(GRAPH, NODE2VEC, tmp_path, n_tasks=3)
    assert (rows, length) == expected.shape
    assert len(list((tmp_path / shards.SHARD_DIR).glob("part-*.npy"))) == 3
    np.testing.assert_array_equal(shards.load_walks(tmp_path), expected)
    arrays, n_rows, _ = shards.shard_arrays(tmp_path)
    assert walks_digest(arrays, n_rows=n_rows) == walks_digest(expected)


# -- runs executed on Ray ------------------------------------------------------------

HERE = Path(__file__).resolve()


@pytest.fixture
def ray_store(ray_local, tmp_path, monkeypatch):
    """A run store whose runs a Ray worker (in a thread of this process) executes."""
    from recsys_core.jobs import RunStore
    from recsys_core.jobs.ray_worker import RayWorker

    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(cluster.ADDRESS_ENV, "local")
    monkeypatch.setenv("RECSYS_CANCEL_GRACE", "30")
    store = RunStore(tmp_path / "runs.sqlite", recover=False)
    worker = RayWorker(store)
    thread = threading.Thread(target=worker.loop, kwargs={"linger": 0, "poll": 0.05})
    yield store, thread
    if thread.is_alive():
        for record in store.list("running"):
            store.request_cancel(record.id)
        thread.join(timeout=30)


def enqueue(store, spec) -> int:
    from recsys_core.jobs.specs import submission

    sub = submission(spec)
    run_id, _ = store.enqueue(sub.spec, sub.key, sub.model, sub.dataset)
    return run_id


def wait_for(predicate, timeout: float = 60.0, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not met in time")


def test_run_on_ray_same_auc_as_local(ray_store, tmp_path, monkeypatch):
    from recsys_core import jobs, pipeline
    from recsys_core.data.registry import DatasetSettings

    store, thread = ray_store
    spec = pipeline.RunSpec.create(
        "sgns",
        dataset=DatasetSettings(source="synthetic", products=600),
        model_params={"epochs": 1, "vector_size": 16, "threads": 1, "eval_every": 20},
    )
    run_id = enqueue(store, spec)
    thread.start()
    thread.join(timeout=240)
    record = store.get(run_id)
    assert record.status == "finished", record.error
    assert set(record.keys) == {"dataset", "split", "walks", "run"}
    assert record.executor == "ray" and record.host  # the Ray node that ran it
    assert len(jobs.metrics(run_id, store=store)) >= 1  # the live curve's rows
    assert jobs.load_outcome(run_id, store).evaluation.auc_all == record.summary["auc_all"]
    # The same settings on this machine, from an empty cache: the same AUC.
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "local-cache"))
    monkeypatch.delenv(cluster.ADDRESS_ENV)
    local = pipeline.run(spec)
    assert record.summary["auc_all"] == pytest.approx(local.evaluation.auc_all, abs=1e-9)


def test_cancel_and_crash_on_ray_give_the_local_statuses(ray_store, tmp_path, monkeypatch):
    store, thread = ray_store
    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{HERE.with_name('ray_runners.py')}:endless_runner")
    monkeypatch.setenv("RECSYS_MAX_CONCURRENT", "2")
    training = enqueue(store, {"model": "endless", "n": 1})
    stage = enqueue(store, {"model": "endless", "n": 2, "stage": True})
    crash = enqueue(store, {"model": "endless", "n": 3})  # waits for a free slot
    thread.start()
    wait_for(lambda: store.metric_rows(training))  # live metrics flow back
    wait_for(lambda: store.get(stage).progress_message == "preparing")
    assert store.get(crash).status == "queued"
    store.request_cancel(training)
    store.request_cancel(stage)
    record = wait_for(lambda: (r := store.get(training)).status == "cancelled" and r, timeout=20)
    assert "training" in record.error
    record = wait_for(lambda: (r := store.get(stage)).status == "cancelled" and r, timeout=20)
    assert "preparing" in record.error

    pid_file = tmp_path / "cache" / "pids" / "3"
    wait_for(pid_file.exists, timeout=30)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the Ray worker process of the run
    record = wait_for(lambda: (r := store.get(crash)).status == "failed" and r, timeout=30)
    assert "Ray worker process" in record.error and "died" in record.error
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_cache_the_ray_worker_cannot_see_fails_the_run_clearly(ray_store, tmp_path, monkeypatch):
    from recsys_core.jobs import ray_runner

    store, thread = ray_store
    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{HERE.with_name('ray_runners.py')}:endless_runner")
    # As on a cluster whose nodes do not mount the cache: the marker the worker must read
    # is not where the driver says it is.
    monkeypatch.setattr(
        ray_runner, "_write_marker", lambda: (tmp_path / "cache" / "not-there.txt", "x")
    )
    run_id = enqueue(store, {"model": "endless", "n": 9})
    thread.start()
    thread.join(timeout=60)
    record = store.get(run_id)
    assert record.status == "failed"
    assert "RECSYS_CACHE_DIR" in record.error and "not shared" in record.error
    assert not (tmp_path / "cache" / "pids" / "9").exists()  # the run never started


def test_grid_points_and_sweep_specs():
    from recsys_core.cli.common import parse_value
    from recsys_core.jobs.ray_sweep import grid_points, parse_grid, sweep_specs
    from recsys_core.pipeline import RunSpec

    grid = parse_grid(["dim=32,64", "window=3,5"], parse_value)
    assert grid == {"vector_size": [32, 64], "window": [3, 5]}
    assert grid_points(grid)[1] == {"vector_size": 32, "window": 5}
    specs = sweep_specs(RunSpec.create("sgns", model_params={"epochs": 1}), grid)
    assert [dict(s.model_params) for s in specs][-1] == {
        "epochs": 1,
        "vector_size": 64,
        "window": 5,
    }
    assert len({s.key() for s in specs}) == 4
    with pytest.raises(ValueError, match="NAME=V1"):
        parse_grid(["dim"])
    with pytest.raises(Exception, match="no setting"):
        sweep_specs(RunSpec.create("sgns"), {"nonsense": [1]})


def test_dim_means_each_models_embedding_size():
    """--grid dim=... and --dim reach MF's ``dim`` as they reach skip-gram's vector_size."""
    import argparse

    from recsys_core.cli.common import model_params_from_args, parse_value
    from recsys_core.jobs.ray_sweep import parse_grid, sweep_specs
    from recsys_core.pipeline import RunSpec

    specs = sweep_specs(RunSpec.create("mf-bias"), parse_grid(["dim=8,16"], parse_value))
    assert [dict(s.model_params) for s in specs] == [{"dim": 8}, {"dim": 16}]
    args = argparse.Namespace(epochs=None, dim=12, set=[])
    assert model_params_from_args(args, "mf") == {"dim": 12}
    assert model_params_from_args(args, "sgns") == {"vector_size": 12}


def test_sweep_runs_in_parallel_on_ray_as_ordinary_runs(ray_local, tmp_path, monkeypatch):
    from recsys_core.jobs import RunStore
    from recsys_core.jobs.ray_sweep import run_all

    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(cluster.ADDRESS_ENV, "local")
    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{HERE.with_name('ray_runners.py')}:pair_runner")
    store = RunStore(tmp_path / "runs.sqlite", recover=False)
    specs = [{"model": "pair", "n": 1, "other": 2}, {"model": "pair", "n": 2, "other": 1}]
    ids = run_all(specs, store, timeout=120)
    records = [store.get(i) for i in ids]
    assert [r.status for r in records] == ["finished", "finished"], [r.error for r in records]
    assert [r.summary["auc_all"] for r in records] == [0.6, 0.7]
    assert {r.id for r in store.list()} == set(ids)


# -- safe by default: token authentication, a head reached by address ----------------

CLIENT = (
    "import sys, ray\n"
    "ray.init(address=sys.argv[1], log_to_driver=False)\n"
    "print('CPUS', ray.cluster_resources().get('CPU'))\n"
)


def client_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A client environment with none of this process's Ray credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)  # no ~/.ray/auth_token there
    env.update(HOME=str(home), RAY_gcs_server_port_wait_time_s="1", **extra)
    return env


def try_client(address: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CLIENT, address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_refused(result: subprocess.CompletedProcess) -> None:
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "CPUS" not in out
    assert "token" in out.lower() and ("Authentication" in out or "Unauthenticated" in out), out


def test_a_client_without_the_token_is_refused(ray_local, tmp_path):
    head = cluster.local_head()  # the module's
    assert_refused(try_client(head.address, client_env(tmp_path)))
    wrong = client_env(tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)
    assert_refused(try_client(head.address, wrong))


def test_separate_head_reached_by_address_gives_the_same_walks(tmp_path):
    from recsys_core.cluster.executor import LocalHead, free_block

    # `ray start --head --port P` (token auth, no dashboard, every port from one free
    # block of the range) in a folder of its own, stopped at the end.
    head = LocalHead(num_cpus=1, base_port=free_block(26579))  # short socket paths: /tmp
    head.start()
    try:
        assert head.address.endswith(f":{head.base_port}")
        assert_refused(try_client(head.address, client_env(tmp_path)))
        env = client_env(tmp_path, RAY_AUTH_TOKEN_PATH=str(head.token_path))
        env["RECSYS_CACHE_DIR"] = str(tmp_path / "cache")
        argv = ["walks", "--products", "300", "--json", "--ray", head.address]
        by_address = subprocess.run(
            [sys.executable, "-m", "recsys_core", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert by_address.returncode == 0, by_address.stderr[-3000:]
        ray_record = json.loads(by_address.stdout.strip().splitlines()[-1])
        # The same walks on this machine, in this process, for the same command line.
        from recsys_core.cli import build_parser
        from recsys_core.cli.common import dataset_settings_from_args
        from recsys_core.cli.data import split_settings_from_args
        from recsys_core.pipeline import prepare

        args = build_parser().parse_args(argv)
        prepared = prepare(dataset_settings_from_args(args), split_settings_from_args(args))
        settings = WalkSettings(
            walks_per_node=args.walks_per_node,
            length=args.length,
            p=args.p,
            q=args.q,
            seed=args.walk_seed,
        )
        expected = generate_walks(prepared.graph, settings)
        assert ray_record["walks"] == expected.shape[0] > 0
        assert ray_record["walks_hash"] == walks_digest(expected)
        shard_index = Path(ray_record["artifacts"]["walks"]) / shards.INDEX
        assert shard_index.exists()  # written as shards by the head's workers
    finally:
        head.stop()
    assert head.proc is None


def test_executor_setting_and_ports(monkeypatch):
    from recsys_core.cluster import executor as conn

    monkeypatch.delenv(cluster.ADDRESS_ENV, raising=False)
    if not cluster.connected():
        assert cluster.address() is None and not cluster.enabled()
        assert cluster.describe()["executor"] == "local workers"
    monkeypatch.setenv(cluster.ADDRESS_ENV, " 10.0.0.5:26379 ")
    assert cluster.address() == "10.0.0.5:26379" and cluster.enabled()
    monkeypatch.setenv(conn.PORTS_ENV, "26379-26999")
    ports = conn.head_ports(conn.port_range()[0])
    assert min(ports.values()) == 26379 and max(ports.values()) <= 26379 + conn.BLOCK - 1
    assert 6379 not in ports.values() and 8265 not in ports.values()
    monkeypatch.setenv(conn.PORTS_ENV, "80-90")
    with pytest.raises(cluster.ClusterError, match="at least"):
        conn.port_range()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    with pytest.raises(cluster.ClusterError, match="token"):
        cluster.connect("10.0.0.5:26379")


@pytest.mark.skipif(
    not os.environ.get("RECSYS_TEST_RAY_TRAIN"),
    reason="Ray Train takes minutes (two trainer start-ups); RECSYS_TEST_RAY_TRAIN=1 runs it",
)
def test_ray_train_two_workers_same_auc_as_one(ray_local, tmp_path):
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.evaluation.evaluate import evaluate
    from recsys_core.jobs.ray_train import train_data_parallel
    from recsys_core.models.base import Embeddings
    from recsys_core.models.sgns import SkipGramSettings
    from recsys_core.pipeline import prepare

    prepared = prepare(DatasetSettings(source="synthetic", products=600))
    walks = generate_walks(prepared.graph, WalkSettings())
    settings = SkipGramSettings(vector_size=32, epochs=3, batch_size=1024, seed=1)
    trained = np.bincount(walks.ravel(), minlength=prepared.dataset.n_products) > 0
    aucs = []
    for workers in (1, 2):
        vectors = train_data_parallel(
            walks, prepared.dataset.n_products, settings, workers, tmp_path
        )
        embeddings = Embeddings(vectors=vectors, trained=trained)
        report = evaluate(
            embeddings, prepared.split.val, prepared.split.seen_products, train_graph=prepared.graph
        )
        aucs.append(report.auc_all)
    assert aucs[0] > 0.8  # it learned
    assert abs(aucs[1] - aucs[0]) <= 0.01


def test_a_tune_runs_its_trials_on_ray_as_many_at_once_as_it_has_room_for(
    ray_local, tmp_path, monkeypatch
):
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.jobs import RunStore
    from recsys_core.pipeline import RunSpec
    from recsys_core.tuning import Tuner, TuneSettings

    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(cluster.ADDRESS_ENV, "local")
    runner = HERE.with_name("tuning_runners.py")
    monkeypatch.setenv("RECSYS_JOBS_RUNNER", f"{runner}:epochs_runner")
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.05")
    monkeypatch.delenv("RECSYS_MAX_CONCURRENT", raising=False)
    store = RunStore(tmp_path / "runs.sqlite", recover=False)
    base = RunSpec.create("mf-bias", dataset=DatasetSettings(products=300))
    tuner = Tuner(base, TuneSettings(trials=4, poll=0.05, startup_trials=100), store=store)
    assert tuner.parallel == 2  # the local Ray's 2 CPUs, one run each
    result = tuner.run()
    assert result.trials_done == 4 and result.trials_failed == 0
    assert result.test["part"] == "test"
    records = store.list()
    assert len(records) == 5 and {r.status for r in records} == {"finished"}
    assert sorted(r.spec["evaluate_on"] for r in records) == ["reported"] + ["validation"] * 4
