"""``sweep``: a grid over model settings, every point an ordinary run (see
:mod:`recsys_core.jobs.ray_sweep`); runs in parallel on Ray with ``--ray``."""

from __future__ import annotations

import argparse
import time

from recsys_core.cli.common import emit_json, parse_value, progress_bar, say


def register_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="train a grid of model settings as runs (in parallel on Ray with --ray)",
        description="Each grid point is an ordinary run in the run store (see `runs`). "
        "Example: sweep --grid dim=32,64 --grid window=3,5 --ray local",
    )
    p.add_argument("--model", default="sgns", help="model name (see `train --help`)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        required=True,
        metavar="NAME=V1,V2",
        help="a model setting and its values (repeatable; dim = vector_size)",
    )
    from recsys_core.cli.train import add_common

    add_common(p)
    p.set_defaults(func=cmd_sweep)


def print_table(ids: list[int]) -> dict:
    from recsys_core import jobs

    table = jobs.compare(ids)
    parts = sorted({str((jobs.get_run(i).summary or {}).get("part", "?")) for i in ids})
    say(f"metrics on the {' and '.join(parts)} part")
    say(table.to_string(index=False))
    return {"runs": table.to_dict(orient="records"), "part": ",".join(parts)}


def run_specs(args: argparse.Namespace, specs: list) -> int:
    from recsys_core import jobs
    from recsys_core.jobs.ray_sweep import run_all

    t0 = time.perf_counter()
    bars = progress_bar()
    try:
        ids = run_all(specs, jobs.default_store(), on_progress=bars)
    finally:
        bars.close()
    say(f"runs {', '.join(map(str, ids))} ended in {time.perf_counter() - t0:.1f} s")
    record = print_table(ids)
    record["seconds_total"] = round(time.perf_counter() - t0, 3)
    emit_json(args, record)
    statuses = {jobs.get_run(i).status for i in ids}
    return 0 if statuses == {"finished"} else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    from recsys_core.cli.train import spec_from_args
    from recsys_core.jobs.ray_sweep import parse_grid, sweep_specs

    grid = parse_grid(args.grid, parse_value)
    base = spec_from_args(args, args.model)
    specs = sweep_specs(base, grid)
    say(
        f"sweep: {len(specs)} runs of {args.model} over {', '.join(grid)}, evaluated on "
        "validation (a sweep chooses settings, so it never reads test labels; "
        "`tune` then reads test once for the chosen ones)"
    )
    return run_specs(args, specs)
