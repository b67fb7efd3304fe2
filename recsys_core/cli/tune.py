"""``tune``: search a model's settings on validation with Optuna; test is read once, at
the end (see :mod:`recsys_core.tuning`)."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

from recsys_core.cli.common import emit_json, say


def register(sub: argparse._SubParsersAction) -> None:
    from recsys_core.tuning.studies import METRICS

    p = sub.add_parser(
        "tune",
        help="search a model's settings on validation (Optuna TPE, pruning); test read once",
        description="Each trial is an ordinary run in the run store (see `runs`) evaluated "
        "on validation; trials whose per-epoch validation metric falls below the median "
        "are cancelled (pruned). The best settings are then evaluated once on test. "
        "Settings given with --set/--epochs/--dim stay fixed. Running the same command "
        "again resumes the study. Example: tune --model sgns --trials 30",
    )
    p.add_argument("--model", default="sgns", help="model name (see `train --help`)")
    p.add_argument("--trials", type=int, default=30, help="finished trials to reach (default 30)")
    p.add_argument(
        "--metric",
        choices=METRICS,
        default="ndcg",
        help="validation metric to maximise (default ndcg: NDCG@10)",
    )
    p.add_argument("--timeout", type=float, help="seconds after which no new trial starts")
    p.add_argument(
        "--parallel",
        type=int,
        help="trials at once (default 1 locally; with --ray, as many as Ray has room for)",
    )
    p.add_argument("--sampler-seed", type=int, default=0, help="seed of the TPE sampler")
    from recsys_core.cli.train import add_common

    add_common(p)
    p.set_defaults(func=cmd_tune)


def _params(params: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def print_trial(info: dict[str, Any]) -> None:
    run = f"run {info['run']}" if info.get("run") is not None else "no run"
    if info["state"] == "complete":
        outcome = f"{info['value']:.4f}"
    elif info["state"] == "failed":
        outcome = f"failed ({info.get('error', '')})"
    else:
        outcome = info["state"]
    say(f"trial {info['trial']:>3} ({run}): {outcome}  {_params(info['params'])}")


def cmd_tune(args: argparse.Namespace) -> int:
    from recsys_core.cli.train import spec_from_args
    from recsys_core.tuning import Tuner, TuneSettings
    from recsys_core.tuning.studies import METRIC_LABELS

    settings = TuneSettings(
        trials=args.trials,
        metric=args.metric,
        timeout=args.timeout,
        parallel=args.parallel,
        seed=args.sampler_seed,
    )
    settings.validate()
    base = spec_from_args(args, args.model)
    stop = threading.Event()
    tuner = Tuner(base, settings, on_trial=print_trial, stop=stop)
    # SIGTERM (the app's Stop button) ends the tune as Ctrl-C does: in-flight runs cancelled
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    say(
        f"tune {tuner.name}: {settings.trials} trials of {args.model}, "
        f"{tuner.parallel} at a time, maximising validation {METRIC_LABELS[args.metric]}"
    )
    say("space: " + "; ".join(p.describe() for p in tuner.space))
    t0 = time.perf_counter()
    try:
        result = tuner.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stop.is_set():
        say("tune stopped; run the same command again to resume it")
        return 130
    say(
        f"{result.trials_done} trials done ({result.trials_pruned} pruned, "
        f"{result.trials_failed} failed) in {time.perf_counter() - t0:.1f} s"
    )
    if result.best_trial is None:
        say("no trial finished: nothing to evaluate on test")
        emit_json(args, result.as_record())
        return 1
    say(f"best trial {result.best_trial} (run {result.best_run}): {_params(result.best_params)}")
    say(f"{'metric':<12}{'validation':>12}{result.test.get('part', 'test'):>12}")
    for name, label in METRIC_LABELS.items():
        val, test = result.validation.get(name), result.test.get(name)
        say(f"{label:<12}{_fmt(val):>12}{_fmt(test):>12}")
    say(f"test evaluated once, by run {result.test_run}")
    emit_json(args, result.as_record())
    return 0


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4f}"
