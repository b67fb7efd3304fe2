"""The app at electronics scale: page times, server memory, and training with the app open
against the CLI. Run through ``python -m bench.app --scale electronics``.

1. **build**: the dataset, its split, train graph and skip-gram's walks are built in a
   process of their own (timed, peak memory), in ``--cache``; a second cache for the CLI
   gets hard links to the same files (the run stores and trained runs stay apart).
2. **pages**: a fresh server on that cache; every page opened by URL on the electronics
   catalog (``?dataset=electronics``), first paint and drawn as in ``bench/app.py``.
3. **app training**: the Train page with ``model.epochs=1``, Start clicked; the tab stays
   on the page (live curves refreshing every second) until the run ends.
4. **CLI training**: the server stopped, ``python -m recsys_core run`` with the same
   settings (``--set`` the app's start values), then the variants in ``--cli-variants``.

Throughout, every process below the server, the CLI and the browser is sampled
(:mod:`bench.procwatch`): peak resident memory per process (the kernel's ``VmHWM``) and
CPU seconds over each training's span, with the load average. ``--profile DIR`` records
each run's worker with py-spy (if installed) and sums its main thread's samples by phase.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import app as bench_app
from bench.procwatch import ProcWatch

ROOT = Path(__file__).resolve().parents[1]
# The app's start values for skip-gram that differ from the CLI's (ui/runspec.py
# QUICK_DEFAULTS), with the one epoch this pass trains.
APP_MODEL_SET = {"epochs": 1, "eval_every": 250}
CLI_VARIANTS = {"app-settings": {}, "eval_every=0": {"eval_every": 0}}

BUILD = """
import json, resource, sys, time
from recsys_core.data.registry import DatasetSettings
from recsys_core.pipeline import RunSpec, make_walks, prepare
from recsys_core.split import SplitSettings
t0 = time.perf_counter()
spec = RunSpec.create("sgns", dataset=DatasetSettings(source="synthetic", preset=sys.argv[1]))
prep = prepare(spec.dataset, SplitSettings())
t1 = time.perf_counter()
walks = make_walks(prep, spec.walk_settings())[0]
print(json.dumps({"prepare_s": t1 - t0, "walks_s": time.perf_counter() - t1,
                  "products": prep.dataset.n_products, "pairs": len(prep.dataset.pairs),
                  "walks": len(walks),
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""

# py-spy frames that name a phase of a run, most specific first
PHASES = (
    ("live AUC (monitor_auc)", ("monitor_auc",)),
    ("live vectors for the monitor (scored_embeddings)", ("current (",)),
    ("live NDCG@10 (ranking monitor)", ("monitor (recsys_core/evaluation/monitor.py",)),
    ("final evaluation", ("evaluate_run",)),
    ("saving artifacts", ("save_outcome", "scan (recsys_core/jobs/artifacts")),
    ("training: slices, pairs, waiting on the threads", ("_run_epochs",)),
    ("training: setup (counts, sampler)", ("train_skipgram",)),
    ("walks", ("make_walks",)),
    ("loading dataset, split, graph", ("prepare (recsys_core/pipeline",)),
)


def cache_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, RECSYS_CACHE_DIR=str(cache), RECSYS_DEFAULT_MAP_METHOD="pca")
    env.pop("RECSYS_RUNS_DB", None)
    env.pop("RECSYS_RAY_ADDRESS", None)
    return env


def build(preset: str, cache: Path) -> dict:
    """Build the dataset and walks in their own process; its figures."""
    cache.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", BUILD, preset],
        cwd=ROOT, env=cache_env(cache), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def forget_runs(cache: Path) -> None:
    """Remove ``cache``'s run store and trained runs, so the next run trains afresh."""
    for path in cache.glob("runs.sqlite*"):
        path.unlink()
    for kind in ("run", "trained"):
        shutil.rmtree(cache / kind, ignore_errors=True)


def link_cache(src: Path, dst: Path) -> None:
    """``dst``: hard links to ``src``'s artifacts, without its run store and runs."""
    if dst.exists():
        shutil.rmtree(dst)
    skip = shutil.ignore_patterns("runs.sqlite*", "run", "trained", "*.log", "workers")
    shutil.copytree(src, dst, ignore=skip, copy_function=os.link)


def run_row(db: Path, run_id: int | None = None) -> dict | None:
    """The run ``run_id`` (default: the newest) of the store ``db``, read-only."""
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        where = "WHERE id = ?" if run_id is not None else "ORDER BY id DESC LIMIT 1"
        row = con.execute(f"SELECT * FROM runs {where}", () if run_id is None else (run_id,))
        got = row.fetchone()
        if got is None:
            return None
        rec = dict(got)
        rec["events"] = con.execute(
            "SELECT count(*), sum(auc IS NOT NULL) FROM metrics WHERE run_id = ?", (rec["id"],)
        ).fetchone()
    except sqlite3.OperationalError:  # the store is being created
        return None
    finally:
        con.close()
    for name in ("summary", "keys", "spec"):
        rec[name] = json.loads(rec[name]) if rec.get(name) else None
    return rec


def wait_for_run(db: Path, timeout: float, profile: Path | None, name: str) -> dict:
    """Wait until the newest run of ``db`` ends; with ``profile``, py-spy its worker."""
    deadline = time.monotonic() + timeout
    spy = None
    while time.monotonic() < deadline:
        rec = run_row(db)
        if rec is not None and rec["status"] in ("running",) and spy is None and profile:
            spy = start_spy(rec["pid"], profile / f"{name}.txt")
        if rec is not None and rec["status"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"the run did not end within {timeout:.0f} s")
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    return rec


def start_spy(pid: int, out: Path) -> subprocess.Popen | None:
    exe = shutil.which("py-spy")
    if exe is None:
        print("# py-spy is not installed: no profile", flush=True)
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "record", "--pid", str(pid), "--rate", "20", "--nonblocking", "--threads",
           "--format", "raw", "--output", str(out)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def phases(raw: Path) -> dict[str, float]:
    """Seconds of the main thread per phase, from py-spy's raw (collapsed) output."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "MainThread" not in stack.split(";", 1)[0]:
            continue
        phase = next((p for p, marks in PHASES if any(m in stack for m in marks)), "other")
        counts[phase] += int(n)
    return {p: n / 20 for p, n in counts.most_common()}  # 20 samples a second


# (function, file) marks in the server's py-spy stacks: which Train-page fragment, and
# what inside it
SERVER_MARKS = (
    ("_on_script_finished", "scriptrunner"),  # Streamlit's post-run gc.collect(2), if on
    ("live", "train.py"),  # py-spy names a page by its file name alone
    ("run_table", "train.py"),
    ("panel", "ui/runs.py"),
    ("training_curves", "ui/charts.py"),
    ("plotly_chart", "streamlit/"),
    ("metrics", "recsys_core/jobs/"),
    ("list_runs", "recsys_core/jobs/"),
)


def server_split(raw: Path) -> dict[str, float]:
    """Seconds of the server's samples (all threads) inside each of SERVER_MARKS."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        counts["all samples"] += int(n)
        for func, file in SERVER_MARKS:
            if any(f.split(" (")[0].split(".")[-1] == func and file in f for f in frames):
                counts[func] += int(n)
    return {k: v / 20 for k, v in counts.most_common()}


def figures(rec: dict, watch: ProcWatch, cache: Path, offset: float) -> dict:
    """Wall, CPU and memory of one finished run, from its record, artifacts and samples."""
    t0, t1 = rec["started"] - offset, rec["finished"] - offset
    run_dir = cache / "run" / rec["keys"]["run"]
    stages = json.loads((run_dir / "run.json").read_text())["seconds"]
    info = json.loads((run_dir / "embeddings" / "embeddings.json").read_text())["info"]
    training = info.get("training", {})
    load_mean, load_max = watch.load_between(t0, t1)
    workers = watch.of_role("worker")
    return {
        "run": rec["id"],
        "key": rec["key"],
        "status": rec["status"],
        "wall_s": t1 - t0,
        "stages_s": stages,
        "train_s": stages.get("train"),
        "pairs": training.get("pairs"),
        "pairs_per_s": training.get("pairs_per_second"),
        "events": rec["events"][0],
        "live_auc_points": rec["events"][1],
        "worker_cpu_s": watch.cpu_between("worker", t0, t1),
        "server_cpu_s": watch.cpu_between("server", t0, t1),
        "browser_cpu_s": watch.cpu_between("browser", t0, t1),
        "cli_cpu_s": watch.cpu_between("cli", t0, t1),
        "worker_nice": max((w.nice for w in workers), default=None),
        "worker_peak_gb": max((w.hwm_mb for w in workers), default=0.0) / 1024,
        "load_mean": load_mean,
        "load_max": load_max,
        "auc_seen": (rec["summary"] or {}).get("auc_seen"),
    }


def url_dataset(preset: str) -> str:
    """The app's URL value of a synthetic preset."""
    return "builtin" if preset == "default" else preset


def app_training(
    browser: Any,
    url: str,
    preset: str,
    db: Path,
    timeout: float,
    profile: Path | None,
    server_pid: int,
) -> dict:
    """Click Start on the Train page and keep the tab there until the run ends."""
    query = "&".join(f"model.{k}={v}" for k, v in APP_MODEL_SET.items() if k == "epochs")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{url}/train?dataset={url_dataset(preset)}&{query}", wait_until="commit")
        idle = "[data-testid='stApp'][data-test-script-state='notRunning']"
        page.wait_for_selector(idle, timeout=timeout * 1000)
        button = page.get_by_role("button", name="Start training")
        button.wait_for(state="visible", timeout=timeout * 1000)
        button.click()
        spy = start_spy(server_pid, profile / "server.raw") if profile else None
        try:
            return wait_for_run(db, timeout, profile, "app")
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
    finally:
        context.close()


def cli_training(
    cache: Path, preset: str, settings: dict, timeout: float, profile: Path | None, name: str
) -> tuple[dict, ProcWatch, float]:
    """``python -m recsys_core run`` on the synthetic ``preset`` with ``settings``."""
    sets = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    cmd = [sys.executable, "-m", "recsys_core", "run", "--preset", preset, *sets]
    watch = ProcWatch().start()
    offset = time.time() - time.monotonic()
    with open(cache / f"cli-{name}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=cache_env(cache), stdout=log, stderr=log)
        watch.watch(proc.pid)
        watch.watch_command(str(cache / "runs.sqlite"))
        try:
            time.sleep(2)
            rec = wait_for_run(cache / "runs.sqlite", timeout, profile, name)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
            watch.sample()
            watch.stop()
    return rec, watch, offset


def main(args: Any) -> int:
    from playwright.sync_api import sync_playwright

    preset = args.scale
    base = Path(args.cache or Path(os.environ.get("RECSYS_CACHE_DIR", "/tmp")) / "bench-app-scale")
    app_cache, cli_cache = base / "app", base / "cli"
    profile = Path(args.profile) if args.profile else None
    result: dict[str, Any] = {"preset": preset, "load_start": os.getloadavg()}
    t0 = time.perf_counter()
    result["build"] = build(preset, app_cache)
    result["build"]["wall_s"] = time.perf_counter() - t0
    print(f"# build {json.dumps(result['build'])}", flush=True)
    forget_runs(app_cache)  # a rerun on the same cache trains again
    link_cache(app_cache, cli_cache)

    port = bench_app.free_port(args.ports)
    url = f"http://localhost:{port}"
    watch = ProcWatch().start()
    offset = time.time() - time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=bench_app.ARGS)
        watch.watch(os.getpid())  # the browser's processes, then the server's below
        watch.watch_command(str(app_cache / "runs.sqlite"))  # its workers
        proc = bench_app.start_server(port, app_cache, None)
        try:
            pages = bench_app.time_pages(
                browser, url, bench_app.PAGES, args.timeout, query=f"?dataset={url_dataset(preset)}"
            )
            result["pages"] = pages
            print(f"# pages {json.dumps(pages)}", flush=True)
            watch.sample()
            result["server_after_pages_gb"] = sum(p.hwm_mb for p in watch.of_role("server")) / 1024
            if not args.skip_train:
                rec = app_training(
                    browser, url, preset, app_cache / "runs.sqlite", 3600, profile, proc.pid
                )
                watch.sample()
                result["app"] = figures(rec, watch, app_cache, offset)
                print(f"# app {json.dumps(result['app'])}", flush=True)
        finally:
            bench_app.stop_server(proc)
            browser.close()
            watch.sample()
            watch.stop()
    result["memory_gb"] = {
        f"{p.role} {p.pid}": round(p.hwm_mb / 1024, 2)
        for p in watch.procs.values()
        if p.hwm_mb > 50
    }
    if not args.skip_train:
        result["cli"] = {}
        for name in args.cli_variants:
            settings = {**APP_MODEL_SET, **CLI_VARIANTS[name]}
            rec, cwatch, coffset = cli_training(cli_cache, preset, settings, 3600, profile, name)
            result["cli"][name] = figures(rec, cwatch, cli_cache, coffset)
            print(f"# cli {name} {json.dumps(result['cli'][name])}", flush=True)
        if profile:
            result["profile"] = {
                f.stem: phases(f) for f in sorted(profile.glob("*.txt")) if f.stat().st_size
            }
            if (profile / "server.raw").exists():
                result["profile_server"] = server_split(profile / "server.raw")
    result["load_end"] = os.getloadavg()
    report(result)
    if args.json:
        print(json.dumps(result, default=float))
    return 0


def report(result: dict) -> None:
    b = result["build"]
    print(f"\nbuild: {b['products']:,} products, {b['pairs']:,} pairs, {b['walks']:,} walks: "
          f"prepare {b['prepare_s']:.1f} s + walks {b['walks_s']:.1f} s, peak "
          f"{b['peak_rss_gb']:.2f} GB")  # fmt: skip
    print(f"{'page':<16}{'first paint':>12}{'drawn':>10}")
    for row in result.get("pages", []):
        if "page" in row and "drawn_s" in row:
            print(f"{row['page']:<16}{row['first_paint_s']:>10.2f} s{row['drawn_s']:>8.2f} s")
    print("peak resident memory (GB) per process:", json.dumps(result["memory_gb"]))
    rows = {"app": result.get("app"), **{f"cli {k}": v for k, v in result.get("cli", {}).items()}}
    rows = {k: v for k, v in rows.items() if v}
    if rows:
        print(f"{'training':<20}{'wall s':>8}{'train s':>9}{'pairs/s':>11}{'worker cpu':>11}"
              f"{'server':>8}{'browser':>8}{'AUC pts':>8}{'load':>6}")  # fmt: skip
        for name, r in rows.items():
            print(f"{name:<20}{r['wall_s']:>8.1f}{r['train_s']:>9.1f}{r['pairs_per_s']:>11,.0f}"
                  f"{r['worker_cpu_s']:>11.1f}{r['server_cpu_s']:>8.1f}{r['browser_cpu_s']:>8.1f}"
                  f"{r['live_auc_points']:>8}{r['load_mean']:>6.1f}")  # fmt: skip
    for name, split in result.get("profile", {}).items():
        print(f"py-spy, {name}, main thread seconds: {json.dumps(split)}")
    if "profile_server" in result:
        print(f"py-spy, server during the app's run: {json.dumps(result['profile_server'])}")
