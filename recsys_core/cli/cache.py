"""Subcommands for the artifact cache: ``cache`` lists it, ``cache prune`` frees space."""

from __future__ import annotations

import argparse
import time
from typing import Any

from recsys_core.cli.common import add_json_option, emit_json, say

ORPHANS_HELP = (
    "remove orphans: temporary files and folders without a done marker that no process "
    "is writing (left by a crash or a kill), run artifacts that no run in the run store "
    "names (a deleted run's, or one trained in-process by `train` / `compare`), and lock "
    "files of removed artifacts"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cache",
        help="list the artifact cache by kind with sizes and ages; `cache prune` frees space",
        description="Artifacts live in $RECSYS_CACHE_DIR (default ~/.cache/recsys_core), "
        "one folder per kind and key. An artifact being written (its lock held by a "
        "process) or used by a queued or running run is never removed.",
    )
    add_json_option(p)
    p.set_defaults(func=cmd_cache)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    prune = actions.add_parser(
        "prune",
        help="remove old or orphaned artifacts",
        description="Remove artifacts older than DAYS, or orphans (see --orphans). A run "
        "whose artifacts were removed is rebuilt when it is submitted again.",
    )
    what = prune.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--older-than",
        type=float,
        metavar="DAYS",
        help="remove artifacts last written more than DAYS days ago",
    )
    what.add_argument("--orphans", action="store_true", help=ORPHANS_HELP)
    prune.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    add_json_option(prune)
    prune.set_defaults(func=cmd_prune)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"


def _age(days: float) -> str:
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    if days < 1:
        return f"{days * 24:.1f} h"
    return f"{days:.1f} d"


def cmd_cache(args: argparse.Namespace) -> int:
    from recsys_core.common import cache
    from recsys_core.jobs import housekeeping

    root = cache.cache_root()
    now = time.time()
    found = housekeeping.inventory(root)
    say(f"cache: {root}")
    kinds: dict[str, list[Any]] = {}
    for art in found:
        kinds.setdefault(art.kind, []).append(art)
    if not found:
        say("no artifacts")
    for kind, arts in kinds.items():
        total = sum(a.size for a in arts)
        say(f"{kind}: {len(arts)} artifact(s), {_bytes(total)}")
        for a in sorted(arts, key=lambda a: a.written, reverse=True):
            state = "" if a.complete else "  (incomplete)"
            state += "  (being written)" if a.writing else ""
            say(f"  {a.key[:16]:<16} {_bytes(a.size):>10}  {_age(a.age_days(now)):>8} old{state}")
    emit_json(
        args,
        {
            "root": str(root),
            "bytes": sum(a.size for a in found),
            "kinds": {
                kind: {"count": len(arts), "bytes": sum(a.size for a in arts)}
                for kind, arts in kinds.items()
            },
            "artifacts": [a.as_dict(now) for a in found],
        },
    )
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from recsys_core import jobs
    from recsys_core.common import cache
    from recsys_core.jobs import housekeeping

    root = cache.cache_root()
    store = jobs.RunStore(recover=False)  # read only: starts no worker
    try:
        if args.orphans:
            items = housekeeping.orphans(root, store)
        else:
            if args.older_than < 0:
                raise ValueError(f"--older-than must be 0 or more days, got {args.older_than:g}")
            items = housekeeping.older_than(root, args.older_than, store)
    finally:
        store.close()
    gone = items if args.dry_run else housekeeping.remove(items, root)
    verb = "would remove" if args.dry_run else "removed"
    for item in gone:
        say(f"{verb} {item.path.relative_to(root)} ({_bytes(item.size)}): {item.reason}")
    say(f"{verb} {len(gone)} item(s), {_bytes(sum(i.size for i in gone))}")
    emit_json(
        args,
        {
            "dry_run": bool(args.dry_run),
            "removed": [i.as_dict(root) for i in gone],
            "bytes": sum(i.size for i in gone),
        },
    )
    return 0
