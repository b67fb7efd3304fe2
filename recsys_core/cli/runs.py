"""Subcommands for background runs: runs, run, show, cancel, delete, restart.

Runs execute in worker processes and live in the run store, so ``run --no-follow``
returns at once, a followed run survives a Ctrl-C (it keeps training; ``show`` and
``runs`` find it again), and the app sees the same runs.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from recsys_core.cli.common import (
    add_dataset_options,
    add_json_option,
    add_model_options,
    dataset_settings_from_args,
    emit_json,
    model_params_from_args,
    progress_bar,
    say,
)
from recsys_core.cli.data import add_split_options, split_settings_from_args
from recsys_core.jobs.store import KINDS, MODEL, STATUSES, RunRecord


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="list background jobs (model runs, dataset builds, projections) with their "
        "status and results",
    )
    p.add_argument("--status", choices=STATUSES, help="only jobs with this status")
    p.add_argument("--kind", choices=KINDS, help="only jobs of this kind (default: all)")
    add_json_option(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "run",
        help="train and evaluate in a background worker; follow it with a progress bar",
        description="Submits the settings to the run store. Same settings as a queued, "
        "running or finished run: that run is followed instead of a new one.",
    )
    p.add_argument("--model", default="sgns", help="model name (see `train --help`)")
    add_dataset_options(p)
    add_split_options(p)
    add_model_options(p)
    p.add_argument("--no-follow", action="store_true", help="submit and return at once")
    add_json_option(p)
    p.set_defaults(func=cmd_run)

    for name, func, text in (
        ("show", cmd_show, "settings, status, error, results and last metrics of a run"),
        ("cancel", cmd_cancel, "cancel a queued, running or stuck run (a stuck one is killed)"),
        ("delete", cmd_delete, "delete a run and the artifacts no other run uses"),
        ("restart", cmd_restart, "run a failed, cancelled or interrupted run again"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("id", type=int, help="run id (see `runs`)")
        add_json_option(p)
        p.set_defaults(func=func)


def _get(run_id: int) -> RunRecord:
    from recsys_core import jobs

    try:
        return jobs.get_run(run_id)
    except KeyError:
        raise ValueError(f"no run {run_id}; `python -m recsys_core runs` lists them") from None


def record_dict(rec: RunRecord) -> dict[str, Any]:
    """A run as plain JSON (for --json)."""
    return {
        "id": rec.id,
        "kind": rec.kind,
        "status": rec.status,
        "model": rec.model,
        "dataset": rec.dataset,
        "key": rec.key,
        "created": rec.created,
        "started": rec.started,
        "finished": rec.finished,
        "seconds": rec.duration,
        "executor": rec.executor,
        "host": rec.host,
        "progress": {
            "done": rec.progress_done,
            "total": rec.progress_total,
            "message": rec.progress_message,
        },
        "error": rec.error,
        "summary": rec.summary,
        "keys": rec.keys,
        "spec": rec.spec,
    }


def _result_text(rec: RunRecord) -> str:
    s = rec.summary or {}
    if rec.status == "finished" and s and rec.kind != MODEL:
        if "products" in s:
            return f"{s['products']:,} products, {s.get('pairs', 0):,} pairs"
        return (
            f"{s.get('points', 0):,} of {s.get('total', 0):,} items mapped with "
            + str(s.get("method", "?")).upper()
        )
    if rec.status == "finished" and s:

        def fmt(v: Any) -> str:
            return "n/a" if v is None else f"{v:.4f}"

        k = s.get("k", 10)

        def with_interval(name: str, label: str) -> str:
            value, low, high = (s.get(name + x) for x in ("", "_low", "_high"))
            if value is None or low is None or high is None:
                return f"{label} {fmt(value)}"
            return f"{label} {fmt(value)} ± {max(high - value, value - low):.4f}"

        return (
            f"{with_interval(f'ndcg@{k}', f'NDCG@{k}')}, "
            f"{with_interval(f'hit_rate@{k}', f'HitRate@{k}')}, AUC {fmt(s.get('auc_all'))} "
            f"(seen {fmt(s.get('auc_seen'))}, unseen {fmt(s.get('auc_unseen'))}), "
            f"trained in {s.get('train_seconds', 0):.1f} s"
        )
    if rec.status == "stuck":  # the reason, not the stage it froze in
        return f"{(rec.error or 'stuck').splitlines()[0]} (last stage: {rec.progress_message})"
    if rec.active:
        pct = f" {rec.progress:.0%}" if rec.progress_total else ""
        return f"{rec.progress_message}{pct}"
    return (rec.error or "").splitlines()[0] if rec.error else ""


def cmd_runs(args: argparse.Namespace) -> int:
    from recsys_core import jobs

    records = jobs.list_runs(args.status, kind=args.kind)
    if not records:
        wanted = " ".join(x for x in (args.status, args.kind) if x)
        say(f"no {wanted + ' ' if wanted else ''}jobs")
    for rec in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.created))
        dataset = rec.dataset if len(rec.dataset) <= 40 else rec.dataset[:39] + "…"
        say(f"{rec.id:>4}  {rec.kind:<10} {rec.status:<11} {when}  {rec.model:<16} {dataset:<40}")
        detail = _result_text(rec)
        if detail:
            say(f"{'':>6}{detail}")
    emit_json(args, {"runs": [record_dict(r) for r in records]})
    return 0


def follow(run_id: int, poll: float = 0.25) -> RunRecord:
    """Show the run's stage progress until it ends; Ctrl-C stops following, not the run."""
    from recsys_core import jobs

    bars = progress_bar()
    last = None
    try:
        while True:
            rec = jobs.get_run(run_id)
            if not rec.active:
                return rec
            now = (rec.progress_done, rec.progress_total, rec.progress_message)
            if rec.status == "queued":
                now = (0.0, 0.0, "queued: waiting for a free worker")
            elif rec.status == "stuck":
                now = (0.0, 0.0, f"stuck: no heartbeat (`cancel {run_id}` kills its worker)")
            if now != last and now[2]:
                bars(*now)
                last = now
            time.sleep(poll)
    finally:
        bars.close()


def cmd_run(args: argparse.Namespace) -> int:
    from recsys_core import jobs
    from recsys_core.pipeline import RunSpec

    spec = RunSpec.create(
        args.model,
        dataset=dataset_settings_from_args(args),
        split=split_settings_from_args(args),
        model_params=model_params_from_args(args, args.model),
    )
    run_id = jobs.submit(spec)
    rec = jobs.get_run(run_id)
    note = {"finished": " (these settings already finished: reused)"}.get(rec.status, "")
    say(f"run {run_id}: {rec.status}{note} - {rec.model} on {rec.dataset}")
    if not args.no_follow and rec.active:
        try:
            rec = follow(run_id)
        except KeyboardInterrupt:
            say(
                f"stopped following; run {run_id} continues in the background "
                f"(python -m recsys_core show {run_id} / cancel {run_id})"
            )
            emit_json(args, record_dict(jobs.get_run(run_id)))
            return 130
        say(f"run {run_id}: {rec.status} - {_result_text(rec)}")
    emit_json(args, record_dict(rec))
    if args.no_follow:
        return 0
    return 0 if rec.status == "finished" else 1


def cmd_show(args: argparse.Namespace) -> int:
    from recsys_core import jobs

    rec = _get(args.id)
    say(f"run {rec.id}: {rec.status} - {rec.model} on {rec.dataset}")
    say(f"key {rec.key}; artifacts {json.dumps(rec.keys) if rec.keys else '-'}")
    if rec.duration is not None:
        say(f"time {rec.duration:.1f} s" + (f"; worker pid {rec.pid}" if rec.active else ""))
    if rec.executor:
        say(f"executed by {rec.executor} on {rec.host or 'an unknown host'}")
    say("settings:")
    say(json.dumps(rec.spec, indent=2, default=str))
    detail = _result_text(rec)
    if detail and rec.status in ("finished", "queued", "running"):
        say(detail)
    if rec.status == "stuck":
        say(f"last stage: {rec.progress_message}; `cancel {rec.id}` kills its worker")
    if rec.error:
        say("error:")
        say(rec.error.rstrip())
    frame = jobs.metrics(rec.id)
    tail = frame.tail(5)
    if len(frame):
        say(f"last metrics ({len(frame)} rows):")
        say(tail.to_string(index=False))
    out = record_dict(rec)
    out["metrics"] = json.loads(tail.to_json(orient="records"))
    out["metric_rows"] = len(frame)
    emit_json(args, out)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from recsys_core import jobs

    _get(args.id)
    status = jobs.cancel(args.id)
    if status == "running":
        rec = jobs.wait(args.id, timeout=10)
        status = rec.status
        say(f"run {args.id}: {status}" + (" (still stopping)" if rec.active else ""))
    else:
        say(f"run {args.id}: {status}")
    emit_json(args, {"id": args.id, "status": status})
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from recsys_core import jobs

    _get(args.id)
    freed = jobs.delete(args.id)
    say(f"run {args.id} deleted" + (f"; freed {', '.join(freed)}" if freed else ""))
    emit_json(args, {"id": args.id, "deleted": True, "freed": freed})
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    from recsys_core import jobs

    old = _get(args.id)
    new_id = jobs.restart(args.id)
    rec = jobs.get_run(new_id)
    if new_id == old.id:
        say(f"run {args.id} is {old.status}: nothing to restart")
    else:
        say(f"run {args.id} ({old.status}) restarted as run {new_id}: {rec.status}")
    emit_json(args, {"id": args.id, "new_id": new_id, "status": rec.status})
    return 0
