"""Pieces every subcommand shares: dataset options, progress bars, the --json line."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

from recsys_core.cli.cluster import add_ray_option
from recsys_core.data.registry import DatasetSettings


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """--dataset/--preset/... for the synthetic catalog, --amazon PATH, --movielens DIR."""
    group = parser.add_argument_group("dataset (default: the built-in synthetic catalog)")
    group.add_argument(
        "--dataset",
        default="synthetic",
        metavar="NAME",
        help="synthetic (default), electronics, books, movielens-100k, movielens-1m (fetched "
        "copies), or amazon:PATH, movielens:PATH, interactions:PATH, pairs:PATH; the same "
        "names as `study --datasets` (older names builtin, movielens still work)",
    )
    group.add_argument(
        "--preset",
        choices=["default", "electronics", "books"],
        default="default",
        help="synthetic size: default ~20k products, electronics ~420k, books ~2M",
    )
    group.add_argument("--products", type=int, help="synthetic: number of products")
    group.add_argument(
        "--meta-coverage", type=float, help="synthetic: share of products with metadata (0-1]"
    )
    group.add_argument(
        "--side-signal",
        type=float,
        help="synthetic: how strongly metadata decides who links to whom [0-1]",
    )
    group.add_argument("--seed", type=int, help="synthetic: generator seed")
    group.add_argument("--amazon", metavar="PATH", help="Amazon metadata file (.json[.gz])")
    group.add_argument(
        "--movielens", metavar="DIR", help="MovieLens folder or zip (100k or 1M, told apart)"
    )
    group.add_argument(
        "--interactions",
        metavar="PATH",
        help="interaction log (CSV, TSV or Parquet): user, item, time, optional weight",
    )
    group.add_argument(
        "--pairs", metavar="PATH", help="pair file (CSV, TSV or Parquet): item_a, item_b, ..."
    )
    group.add_argument(
        "--item-meta",
        metavar="PATH",
        help="with --interactions/--pairs: item table (id, title, other fields = side info)",
    )
    cols = parser.add_argument_group(
        "columns of --interactions / --pairs (a name, or a 1-based number for a file "
        "without a header; default: guessed from common names)"
    )
    for flag, role in (
        ("--user-col", "user id"),
        ("--item-col", "item id"),
        ("--time-col", "timestamp (Unix seconds or a date)"),
        ("--weight-col", "weight or rating (optional)"),
        ("--session-col", "session, basket or order id (optional)"),
        ("--a-col", "pair file: first item"),
        ("--b-col", "pair file: second item"),
        ("--relation-col", "pair file: relation (bought_together, also_bought, also_viewed)"),
    ):
        cols.add_argument(flag, metavar="COL", help=role)
    cols.add_argument(
        "--rule",
        choices=["consecutive", "session"],
        default="consecutive",
        help="interaction pairs: consecutive items per user, or items within --window steps "
        "in one session/basket",
    )
    cols.add_argument("--window", type=int, default=5, help="session rule: steps apart (5)")
    cols.add_argument(
        "--session-gap",
        type=float,
        default=1800.0,
        help="session rule without --session-col: seconds of silence ending a session (1800)",
    )
    add_ray_option(parser)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="end the output with one JSON line of figures"
    )


COLUMN_FLAGS = {
    "interactions": {
        "user": "user_col",
        "item": "item_col",
        "time": "time_col",
        "weight": "weight_col",
        "session": "session_col",
    },
    "pairs": {"a": "a_col", "b": "b_col", "weight": "weight_col", "relation": "relation_col"},
}


def dataset_settings_from_args(args: argparse.Namespace) -> DatasetSettings:
    for source in ("interactions", "pairs"):
        if getattr(args, source, None):
            columns = {
                role: getattr(args, attr)
                for role, attr in COLUMN_FLAGS[source].items()
                if getattr(args, attr, None)
            }
            extra = (
                {"rule": args.rule, "window": args.window, "session_gap": args.session_gap}
                if source == "interactions"
                else {}
            )
            return DatasetSettings(
                source=source,
                path=getattr(args, source),
                columns=tuple(columns.items()),
                item_meta=args.item_meta,
                **extra,
            )
    if getattr(args, "item_meta", None):
        raise ValueError("--item-meta goes with --interactions PATH or --pairs PATH")
    if getattr(args, "amazon", None):
        return DatasetSettings(source="amazon", path=args.amazon)
    if getattr(args, "movielens", None):
        return DatasetSettings(source="movielens", path=args.movielens)
    from recsys_core.data.registry import SYNTHETIC_PRESETS, canonical_name, settings_for_name

    name, note = canonical_name(getattr(args, "dataset", None) or "synthetic")
    if note:
        print(f"note: {note}", file=sys.stderr)
    if name not in ("synthetic", *SYNTHETIC_PRESETS):
        return settings_for_name(name)
    return DatasetSettings(
        source="synthetic",
        preset=args.preset if name == "synthetic" else name,
        products=args.products,
        meta_coverage=args.meta_coverage,
        side_signal=args.side_signal,
        seed=args.seed,
    )


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit_json(args: argparse.Namespace, record: dict[str, Any]) -> None:
    """With --json, print the figures as the last line of output."""
    if getattr(args, "json", False):
        print(json.dumps(record, default=str), flush=True)


def say(message: str) -> None:
    print(message, flush=True)


class ProgressBars:
    """A :class:`Progress` that shows one tqdm bar per stage message on stderr.

    A bar appears only once a stage has run for more than a second, so quick stages stay
    quiet and slow ones always show progress.
    """

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay
        self.message: str | None = None
        self.bar: Any = None
        self.started = 0.0

    def __call__(self, done: float, total: float, message: str) -> None:
        from tqdm import tqdm

        if message != self.message:
            self.close()
            self.message = message
            self.started = time.perf_counter()
        if self.bar is None:
            if time.perf_counter() - self.started < self.delay:
                return
            self.bar = tqdm(total=total, desc=message, file=sys.stderr, leave=False)
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_bar() -> ProgressBars:
    return ProgressBars()


def parse_value(text: str) -> Any:
    """A --set value: JSON numbers, booleans and null; anything else stays a string.

    Parsed as data (json), never evaluated.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model settings")
    group.add_argument("--epochs", type=int, help="training epochs (models that have them)")
    group.add_argument("--dim", type=int, help="vector size (models that have one)")
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any model setting, e.g. --set window=5 --set lr_schedule=linear (repeatable)",
    )


def model_params_from_args(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """Model settings from --epochs/--dim/--set, keeping only those the model has."""
    import dataclasses

    from recsys_core.models.registry import dimension_field, model_class

    fields = {f.name for f in dataclasses.fields(model_class(model).settings_cls)}
    params: dict[str, Any] = {}
    if getattr(args, "epochs", None) is not None and "epochs" in fields:
        params["epochs"] = args.epochs
    size_field = dimension_field(model)
    if getattr(args, "dim", None) is not None and size_field is not None:
        params[size_field] = args.dim
    for item in getattr(args, "set", []) or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        params[name.strip()] = parse_value(value.strip())
    return params
