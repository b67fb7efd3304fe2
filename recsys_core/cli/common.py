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
    group.add_argument("--dataset", choices=["synthetic"], default="synthetic")
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
    group.add_argument("--movielens", metavar="DIR", help="MovieLens-100k folder or zip")
    add_ray_option(parser)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="end the output with one JSON line of figures"
    )


def dataset_settings_from_args(args: argparse.Namespace) -> DatasetSettings:
    if getattr(args, "amazon", None):
        return DatasetSettings(source="amazon", path=args.amazon)
    if getattr(args, "movielens", None):
        return DatasetSettings(source="movielens", path=args.movielens)
    return DatasetSettings(
        source="synthetic",
        preset=args.preset,
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
