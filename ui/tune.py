"""The Tune page's helpers: start a tune as a background process, follow and stop it, and
read its stored Optuna study for the figures.

A tune runs as ``python -m recsys_core tune ... --json`` in a process of its own (never
in the Streamlit script thread): it outlives page reruns and browser refreshes, its
trials are ordinary runs in the run list, and the page reads progress from the Optuna
study it writes. Only the page's button starts one; nothing in a URL does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from recsys_core.common import cache
from recsys_core.common.settings import stable_hash
from recsys_core.data.registry import DatasetSettings

ROOT = Path(__file__).resolve().parents[1]


def current_dataset() -> DatasetSettings:
    """The dataset the sidebar has chosen (the one place this page reads app state)."""
    from ui import datasets

    return datasets.dataset_settings()


def dataset_args(settings: DatasetSettings) -> list[str]:
    """The ``tune`` command's dataset options for ``settings``."""
    if settings.source == "amazon":
        return ["--amazon", str(settings.path)]
    if settings.source == "movielens":
        return ["--movielens", str(settings.path)]
    args = ["--preset", settings.preset]
    for flag, value in (
        ("--products", settings.products),
        ("--meta-coverage", settings.meta_coverage),
        ("--side-signal", settings.side_signal),
        ("--seed", settings.seed),
    ):
        if value is not None:
            args += [flag, str(value)]
    return args


def _jobs_dir() -> Path:
    folder = cache.cache_root() / "tuning" / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _record_path(study: str) -> Path:
    return _jobs_dir() / f"{stable_hash({'study': study})[:16]}.json"


def start(study: str, dataset: DatasetSettings, model: str, trials: int, metric: str) -> int:
    """Start the tune ``study`` in a background process; returns its pid."""
    record_path = _record_path(study)
    log_path = record_path.with_suffix(".log")
    command = [
        sys.executable,
        "-m",
        "recsys_core",
        "tune",
        "--model",
        model,
        "--trials",
        str(int(trials)),
        "--metric",
        metric,
        *dataset_args(dataset),
        "--json",
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a page rerun or a closed tab does not stop it
        )
    record = {"pid": proc.pid, "study": study, "log": str(log_path), "started": time.time()}
    record_path.write_text(json.dumps(record))
    return proc.pid


def _alive(pid: int) -> bool:
    """The tune process ``pid`` still runs (and is a tune, not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z" and b"recsys_core" in cmdline and b"tune" in cmdline


def job(study: str) -> dict[str, Any] | None:
    """The last background tune of ``study``: pid, log, ``running``, and its --json result
    (``result``) or the log's last lines (``tail``) once it ended."""
    path = _record_path(study)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    record["running"] = _alive(int(record["pid"]))
    lines = []
    log = Path(record["log"])
    if log.exists():
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    record["tail"] = "\n".join(lines[-8:])
    record["result"] = None
    if not record["running"] and lines and lines[-1].startswith("{"):
        try:
            record["result"] = json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    return record


def stop(study: str) -> bool:
    """Ask the tune to stop (its in-flight trials are cancelled); True when it was running."""
    record = job(study)
    if record is None or not record["running"]:
        return False
    os.kill(int(record["pid"]), signal.SIGTERM)
    return True


def study_or_none(name: str) -> Any:
    """The stored Optuna study ``name``, or None before its first trial."""
    from recsys_core.tuning import load_study

    try:
        return load_study(name)
    except KeyError:
        return None


def estimate(study: Any, trials: int) -> str:
    """What starting the tune will cost, from the study's own trials where it has some."""
    memory = "memory: one training run's at a time (trials run one after another)"
    done = []
    if study is not None:
        for trial in study.get_trials(deepcopy=False):
            if trial.datetime_start and trial.datetime_complete:
                done.append((trial.datetime_complete - trial.datetime_start).total_seconds())
    left = max(trials - len(done), 0)
    if not done:
        return (
            f"{trials} trials; time: unknown until a trial has run (30 pruned trials of "
            f"skip-gram on the 20k-product catalog: bench/README.md, 'tune'); {memory}."
        )
    mean = sum(done) / len(done)
    return (
        f"{len(done)} trials done, {left} to go: about {left * mean / 60:.0f} min more "
        f"at {mean:.0f} s a trial (pruned ones are shorter); {memory}."
    )


def counts(study: Any) -> dict[str, int]:
    """Trials of the study by state: complete, pruned, failed, running."""
    out = {"complete": 0, "pruned": 0, "failed": 0, "running": 0}
    for trial in study.get_trials(deepcopy=False):
        name = trial.state.name.lower()
        key = "failed" if name == "fail" else name
        if key in out:
            out[key] += 1
    return out


def figures(study: Any) -> list[tuple[str, Any, str | None]]:
    """Optuna's own plotly figures of the study: ``(title, figure or None, why not)``."""
    from optuna import visualization

    shown = []
    complete = counts(study)["complete"]
    shown.append(("Optimisation history", visualization.plot_optimization_history(study), None))
    if complete >= 2:
        try:
            fig = visualization.plot_param_importances(study)
            shown.append(("Parameter importance", fig, None))
        except (RuntimeError, ValueError) as exc:
            shown.append(("Parameter importance", None, str(exc)))
    else:
        shown.append(("Parameter importance", None, "needs two finished trials"))
    if counts(study)["pruned"] or complete:
        shown.append(
            ("Validation metric by epoch", visualization.plot_intermediate_values(study), None)
        )
    return shown


def chosen(study: Any) -> tuple[Any, str] | None:
    """The chosen trial's validation and (one) test figures side by side, and a caption
    naming its settings and runs; None until the tune has evaluated it on test."""
    import pandas as pd

    from recsys_core.tuning.studies import METRIC_LABELS, METRICS

    test = study.user_attrs.get("test")
    if not test:
        return None
    best = study.trials[test["trial"]]
    validation = best.user_attrs.get("validation", {})
    table = pd.DataFrame(
        {
            "metric": [METRIC_LABELS[m] for m in METRICS],
            "validation": [validation.get(m) for m in METRICS],
            "test": [test["metrics"].get(m) for m in METRICS],
        }
    )
    settings = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items()
    )
    caption = (
        f"Trial {test['trial']} (run {best.user_attrs.get('run_id')}): {settings}. "
        f"Test was evaluated once, by run {test['run']}."
    )
    return table, caption


def trials_frame(study: Any) -> Any:
    """One row per trial: number, state, value, run, its settings."""
    import pandas as pd

    rows = []
    for trial in study.get_trials(deepcopy=False):
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower().replace("fail", "failed"),
                "value": trial.value,
                "run": trial.user_attrs.get("run_id"),
                **trial.params,
            }
        )
    return pd.DataFrame(rows)
