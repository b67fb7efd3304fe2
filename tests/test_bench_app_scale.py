"""bench.app's scale pass: its /proc sampler, py-spy phase sums and argument checks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench import app as bench_app
from bench.app_scale import forget_runs, link_cache, phases
from bench.procwatch import ProcSample, ProcWatch, descendants, read_process


def test_procwatch_sees_a_child_by_tree_and_by_command_line() -> None:
    marker = "bench-procwatch-marker"
    child = subprocess.Popen(
        [sys.executable, "-c", f"import time; '{marker}'; time.sleep(30)"],
    )
    try:
        assert child.pid in descendants(os.getpid())
        watch = ProcWatch(interval=60)  # sampled by hand below, never by its thread
        watch.watch_command(marker)
        watch.sample()
        watch.sample()
        sampled = watch.procs[child.pid]
        assert sampled.role == "other" and len(sampled.cpu) == 2  # one record, two samples
        assert sampled.hwm_mb > 1 and sampled.rss_max_mb > 1
        rss, hwm, cpu, _nice, cmd = read_process(child.pid)
        assert marker in cmd and hwm >= rss > 0 and cpu >= 0
    finally:
        child.kill()
        child.wait()
    assert read_process(child.pid) is None


def test_cpu_between_counts_from_the_sample_before_the_span() -> None:
    rec = ProcSample(1, "worker", "x", cpu=[(0.0, 1.0), (5.0, 3.0), (10.0, 7.0), (20.0, 9.0)])
    assert rec.cpu_between(4.0, 11.0) == 6.0  # 7 at t=10 less 1 at t=0
    assert rec.cpu_between(30.0, 40.0) == 0.0


def test_phases_sum_the_main_thread_by_its_innermost_named_phase(tmp_path) -> None:
    raw = tmp_path / "spy.txt"
    raw.write_text(
        "thread (101): MainThread;run (recsys_core/pipeline.py:1);_run_epochs (sgns.py:2);"
        "report (base.py:3);monitor_auc (auc.py:4) 40\n"
        "thread (101): MainThread;run (recsys_core/pipeline.py:1);_run_epochs (sgns.py:2) 20\n"
        "thread (102): hogwild-0;work (hogwild.py:1) 99\n"
        "thread (101): MainThread;run (recsys_core/pipeline.py:1);evaluate_run (p.py:9) 10\n"
    )
    got = phases(raw)
    assert got == {
        "live AUC (monitor_auc)": 2.0,
        "training: slices, pairs, waiting on the threads": 1.0,
        "final evaluation": 0.5,
    }


def test_the_cli_cache_links_the_built_artifacts_but_not_the_runs(tmp_path) -> None:
    src, dst = tmp_path / "app", tmp_path / "cli"
    for rel in ("walks/k/walks.npy", "run/r/run.json", "trained/t/x.json", "runs.sqlite"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel)
    link_cache(src, dst)
    assert (dst / "walks/k/walks.npy").stat().st_ino == (src / "walks/k/walks.npy").stat().st_ino
    assert not (dst / "run").exists() and not (dst / "runs.sqlite").exists()
    forget_runs(src)
    assert not (src / "run").exists() and not (src / "trained").exists()
    assert (src / "walks/k/walks.npy").exists() and not (src / "runs.sqlite").exists()


def test_an_unknown_cli_variant_is_one_sentence(capsys) -> None:
    with pytest.raises(SystemExit):
        bench_app.main(["--scale", "default", "--cli-variants", "fast"])
    assert "unknown fast; known: app-settings, eval_every=0" in capsys.readouterr().err


def test_server_split_counts_each_fragment_once_per_sample(tmp_path) -> None:
    from bench.app_scale import server_split

    raw = tmp_path / "server.raw"
    raw.write_text(
        "thread (1): ScriptRunner;live (train.py:90);"
        "training_curves (ui/charts.py:5);RunStore.metrics (recsys_core/jobs/store.py:1) 10\n"
        "thread (1): ScriptRunner;draw_running_anywhere.<locals>.panel (ui/runs.py:326) 4\n"
        "thread (2): Tornado;poll (asyncio.py:1) 6\n"
    )
    assert server_split(raw) == {
        "all samples": 1.0, "live": 0.5, "training_curves": 0.5, "metrics": 0.5, "panel": 0.2,
    }  # fmt: skip
