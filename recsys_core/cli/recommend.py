"""``recommend``: a finished run's top-k recommendations per product, as Parquet or CSV.

Scores are the model's own rule (what HitRate ranked by). Catalogs above
:data:`recsys_core.explore.topk.ANN_THRESHOLD` products use the approximate index unless
``--exact``; ``--ann`` forces it below.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from recsys_core.cli.common import add_json_option, emit_json, say

SUFFIXES = (".parquet", ".csv")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="write a finished run's top-k recommendations per product (Parquet or CSV)",
        description="One row per product and rank: product id and ASIN, rank, recommended "
        "id and ASIN, the model's own score, and titles where the catalog has them.",
    )
    p.add_argument("--run", type=int, required=True, help="a finished run's id (see `runs`)")
    p.add_argument("--k", type=int, default=20, help="recommendations per product")
    p.add_argument("--out", required=True, help="output file: .parquet or .csv")
    path = p.add_mutually_exclusive_group()
    path.add_argument("--exact", action="store_true", help="exact top-k at any catalog size")
    path.add_argument("--ann", action="store_true", help="the approximate index at any size")
    p.add_argument(
        "--exclude-known",
        action="store_true",
        help="leave out each product's train neighbours (recommend only new pairs)",
    )
    add_json_option(p)
    p.set_defaults(func=cmd_recommend)


def cmd_recommend(args: argparse.Namespace) -> int:
    from recsys_core import jobs
    from recsys_core.cli.runs import _get
    from recsys_core.jobs.recommend import recommendations, write_table

    out = Path(args.out)
    if out.suffix.lower() not in SUFFIXES:
        raise ValueError(f"--out must end in .parquet or .csv, got {str(out)!r}")
    if args.k < 1:
        raise ValueError(f"--k must be at least 1, got {args.k}")
    t0 = time.perf_counter()
    _get(args.run)  # an unknown id: one sentence naming `runs`
    outcome = jobs.load_outcome(args.run, mmap=True)  # unfinished: one sentence
    ann = True if args.ann else False if args.exact else None
    recs = recommendations(outcome, args.k, ann=ann, exclude_known=args.exclude_known)
    frame, approximate = recs.frame, not recs.exact
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(frame, out, out.suffix.lower().lstrip("."))
    seconds = time.perf_counter() - t0
    method = "approximate index (faiss IVF)" if approximate else "exact"
    say(
        f"{len(frame):,} recommendations for {recs.products:,} products ({method}, score "
        f"{recs.score}) in {seconds:.1f} s: {out}"
    )
    emit_json(
        args,
        {
            "run": args.run,
            "out": str(out),
            "rows": len(frame),
            "products": recs.products,
            "k": args.k,
            "exact": not approximate,
            "score": recs.score,
            "exclude_known": bool(args.exclude_known),
            "seconds": round(seconds, 3),
        },
    )
    return 0
