"""Subcommand ``study``: run a declared study and print its per-arm figures and verdicts.

python -m recsys_core study list
python -m recsys_core study node2vec-vs-walks --seeds 3 --json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from recsys_core.cli.common import progress_bar, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study",
        help="run a study (arms x datasets x seeds x protocols) and print its verdicts",
        description=(
            "A study answers one open question of the method: its arms run as ordinary "
            "cached runs (background jobs unless --no-jobs), are scored under each "
            "evaluation protocol, and a verdict names a direction only when the difference "
            "between arms exceeds the spread across seeds. `study list` lists them."
        ),
    )
    p.add_argument("name", help="study name, or 'list'")
    p.add_argument(
        "--datasets",
        help="comma-separated dataset names, as in --dataset of every subcommand: synthetic, "
        "movielens-100k, movielens-1m (when fetched), amazon:PATH, movielens:PATH, "
        "interactions:PATH, pairs:PATH (default: the study's own)",
    )
    p.add_argument("--seeds", type=int, help="seeds per arm (default: the study's, 3)")
    p.add_argument("--products", type=int, help="size of the built-in catalog (default 5000)")
    p.add_argument(
        "--protocols", help="comma-separated negative protocols (default: uniform,degree-matched)"
    )
    p.add_argument(
        "--no-jobs",
        action="store_true",
        help="run the arms in this process, one after another, instead of as background runs",
    )
    p.add_argument("--out", metavar="PATH", help="also write the result JSON to this file")
    p.add_argument("--json", action="store_true", help="end with the result as one JSON line")
    p.set_defaults(func=cmd_study)


def cmd_list() -> int:
    from recsys_core.studies import all_studies
    from recsys_core.studies.framework import plan, unique_specs

    found, problems = all_studies()
    for name, study in found.items():
        trials, notes = plan(study)
        say(f"{name}: {study.question}")
        say(f"    arms: {', '.join(a.name for a in study.arms)}")
        say(f"    {len(unique_specs(trials))} runs by default ({study.sizes})")
        for note in notes:
            say(f"    {note}")
    for module, problem in problems.items():
        say(f"({module}: not available: {problem})")
    return 0


def format_result(result: Any) -> list[str]:
    """The human-readable report: per dataset and protocol, each arm's figures and verdicts."""
    from recsys_core.studies.framework import METRICS, dataset_label

    lines = [f"{result.study}: {result.question}"]
    lines += [f"  note: {n}" for n in result.notes]
    for dataset in result.datasets:
        for protocol in result.protocols:
            lines.append(
                f"\n{dataset_label(dataset)} · {protocol} negatives · {result.seeds} seeds"
            )
            cells = [
                c for c in result.cells if c["dataset"] == dataset and c["protocol"] == protocol
            ]
            for metric in dict.fromkeys(c["metric"] for c in cells):
                label = METRICS[metric][0]
                for c in (c for c in cells if c["metric"] == metric):
                    digits = ".2f" if metric == "train_seconds" else ".4f"
                    mean = "-" if c["mean"] is None else format(c["mean"], digits)
                    spread = "-" if c["spread"] is None else format(c["spread"], digits)
                    lines.append(f"  {label:<24} {c['arm']:<48} {mean} (spread {spread})")
            for v in result.distinct_verdicts():
                if v["dataset"] == dataset and v["protocol"] == protocol:
                    lines.append(f"  verdict ({METRICS[v['metric']][0]}): {v['sentence']}")
    return lines


def cmd_study(args: argparse.Namespace) -> int:
    from recsys_core.studies import get_study
    from recsys_core.studies.framework import run_study

    if args.name == "list":
        return cmd_list()
    study = get_study(args.name)
    if args.protocols:
        import dataclasses

        study = dataclasses.replace(study, protocols=tuple(args.protocols.split(",")))
    datasets = None
    if args.datasets:
        from recsys_core.data.registry import canonical_name

        datasets = []
        for given in args.datasets.split(","):
            name, note = canonical_name(given)
            if note:
                say(f"note: {note}")
            datasets.append(name)
    bars = progress_bar()
    try:
        result = run_study(
            study,
            datasets=datasets,
            seeds=args.seeds,
            products=args.products,
            use_jobs=not args.no_jobs,
            on_progress=bars,
        )
    finally:
        bars.close()
    for line in format_result(result):
        say(line)
    say(f"\n{result.seconds:.0f} s")
    if args.out:
        from pathlib import Path

        result.save(Path(args.out))
    if args.json:
        print(json.dumps(result.as_dict(), default=str), flush=True)
    return 0
