"""Command line: ``python -m recsys_core --help``.

Each module in this package adds its subcommands through ``register(subparsers)``; a
subcommand sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from recsys_core.cli.cluster import apply_ray_option
from recsys_core.common.settings import SettingsError

COMMAND_MODULES = (
    "recsys_core.cli.data",
    "recsys_core.cli.train",
    "recsys_core.cli.runs",
    "recsys_core.cli.recommend",
    "recsys_core.cli.cluster",
    "recsys_core.cli.study",
    "recsys_core.cli.cache",
    "recsys_core.cli.tune",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recsys_core",
        description="Product graphs -> random walks -> item embeddings -> evaluation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log engine details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        apply_ray_option(args)
        return int(args.func(args) or 0)
    except (SettingsError, FileNotFoundError, ValueError) as exc:
        # A user mistake: say what is wrong and how to fix it, without a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
