"""Subcommands for datasets and their preparation: datasets, fetch, prepare, walks."""

from __future__ import annotations

import argparse
import time

import numpy as np

from recsys_core.cli.common import (
    add_dataset_options,
    add_json_option,
    dataset_settings_from_args,
    emit_json,
    peak_memory_mb,
    progress_bar,
    say,
)
from recsys_core.common import cache
from recsys_core.pipeline import Prepared
from recsys_core.split import NEGATIVE_PROTOCOLS, STRATEGIES, TIME_SCOPES, SplitSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the datasets that can be loaded here")
    add_json_option(p)
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("fetch", help="download a public dataset into the cache")
    p.add_argument("name", choices=["movielens-100k", "movielens-1m"])
    p.add_argument("--dest", help="folder to extract into (default: in the cache)")
    add_json_option(p)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "prepare", help="load a dataset, split its pairs and build the train graph (cached)"
    )
    add_dataset_options(p)
    add_split_options(p)
    add_json_option(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("walks", help="generate random walks over the train graph (cached)")
    add_dataset_options(p)
    add_split_options(p)
    p.add_argument("--walks-per-node", type=int, default=10)
    p.add_argument("--length", type=int, default=10, help="nodes per walk")
    p.add_argument("--p", type=float, default=1.0, help="node2vec return parameter")
    p.add_argument("--q", type=float, default=1.0, help="node2vec in-out parameter")
    p.add_argument("--walk-seed", type=int, default=0)
    p.add_argument("--show", type=int, default=3, help="print this many sample walks")
    add_json_option(p)
    p.set_defaults(func=cmd_walks)


def add_split_options(p: argparse.ArgumentParser) -> None:
    defaults = SplitSettings()
    group = p.add_argument_group(
        "split (default: train 67%, validation 15%, test 18%; reported tables use test)"
    )
    group.add_argument(
        "--val-fraction", type=float, default=None, help=f"default {defaults.val_fraction}"
    )
    group.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help=f"default {defaults.test_fraction}; 0 reports on validation",
    )
    group.add_argument(
        "--method-split",
        action="store_true",
        help="the method's 67/33 train/validation split, no test (tables then use validation)",
    )
    group.add_argument(
        "--negatives",
        choices=NEGATIVE_PROTOCOLS,
        default=defaults.negatives,
        help="negative pairs: uniform (the method's), degree-matched (controls for "
        "popularity), two-hop (hard negatives near the query in the train graph)",
    )
    group.add_argument(
        "--holdout-products",
        type=float,
        default=0.0,
        help="share of products held out as new to the catalog (cold start); default 0",
    )
    group.add_argument(
        "--split",
        choices=STRATEGIES,
        default="random",
        help="random pairs held out (the method's), or time: the latest interactions held "
        "out (interaction logs and MovieLens)",
    )
    group.add_argument(
        "--time-scope",
        choices=TIME_SCOPES,
        default="user",
        help="time split: each user's latest interactions, or all after a global cutoff",
    )
    group.add_argument("--split-seed", type=int, default=0)
    group.add_argument(
        "--seen-only", action="store_true", help="keep only held-out pairs of seen products"
    )


def split_settings_from_args(args: argparse.Namespace) -> SplitSettings:
    base = SplitSettings.method() if args.method_split else SplitSettings()
    changes = {
        "negatives": args.negatives,
        "holdout_products": args.holdout_products,
        "seed": args.split_seed,
        "seen_only": args.seen_only,
        "strategy": args.split,
        "time_scope": args.time_scope,
    }
    if args.val_fraction is not None:
        changes["val_fraction"] = args.val_fraction
    if args.test_fraction is not None:
        changes["test_fraction"] = args.test_fraction
    return base.replace(**changes)  # type: ignore[return-value]


def cmd_datasets(args: argparse.Namespace) -> int:
    from recsys_core.data.registry import available_datasets

    rows = available_datasets()
    for row in rows:
        say(f"{row['name']:<22} {row['status']:<12} {row['description']}")
        say(f"{'':<22} options: {row['options']}")
    emit_json(args, {"datasets": rows})
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from recsys_core.data.fetch import DATASETS, FetchError, fetch_movielens

    t0 = time.perf_counter()
    try:
        folder = fetch_movielens(args.name, Path(args.dest) if args.dest else None)
    except FetchError as exc:
        raise ValueError(str(exc)) from exc
    seconds = time.perf_counter() - t0
    files = sorted(p.name for p in folder.iterdir())
    say(f"{DATASETS[args.name].title} in {folder} ({', '.join(files)}) in {seconds:.1f} s")
    say(f"use it with: python -m recsys_core prepare --movielens {folder}")
    emit_json(args, {"folder": str(folder), "files": files, "seconds": round(seconds, 3)})
    return 0


def prepare_summary(prepared: Prepared, t_start: float) -> dict:
    ds = prepared.dataset
    products = ds.products
    meta = {
        field: round(float(products[field].notna().mean()), 4)
        for field in ("title", "brand", "price", "cat_1")
        if field in products
    }
    return {
        "dataset": ds.name,
        "products": ds.n_products,
        "pairs": len(ds.pairs),
        "relationships": ds.report.relationship_counts,
        "lines_read": ds.report.lines_read,
        "records": ds.report.records,
        "records_kept": ds.report.records_kept,
        "skipped_lines": ds.report.skipped,
        "skipped_examples": ds.report.skipped_examples,
        "metadata_coverage": meta,
        "split": prepared.split.summary(),
        "graph_edges": int(prepared.graph.nnz // 2),
        "seconds": {k: round(v, 3) for k, v in prepared.seconds.items()}
        | {"total": round(time.perf_counter() - t_start, 3)},
        "cache_hits": prepared.cache_hits,
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "artifacts": {
            "dataset": str(cache.artifact_dir("dataset", prepared.dataset_key)),
            "split": str(cache.artifact_dir("split", prepared.split_key)),
        },
    }


def print_prepare_summary(summary: dict) -> None:
    split = summary["split"]
    say(f"dataset      {summary['dataset']}")
    say(f"products     {summary['products']:,}   pairs {summary['pairs']:,}")
    rel = ", ".join(f"{k} {v:,}" for k, v in summary["relationships"].items())
    say(f"relations    {rel}")
    say(
        f"lines        {summary['lines_read']:,} read, {summary['records_kept']:,} kept, "
        f"{summary['skipped_lines']:,} skipped"
    )
    for line_no, reason in summary["skipped_examples"][:5]:
        say(f"             line {line_no}: {reason}")
    cov = ", ".join(f"{k} {v:.0%}" for k, v in summary["metadata_coverage"].items())
    say(f"metadata     {cov}")
    say(
        f"split        {split.get('split', 'random')}: {split['train_pairs']:,} train pairs, "
        f"{split['val_positives']:,} "
        f"validation positives + {split['val_negatives']:,} negatives, "
        f"{split['test_positives']:,} test positives + {split['test_negatives']:,} negatives "
        f"({split['negatives']}); {split['val_products_unseen_share']:.1%} of validation "
        f"products unseen; reported tables use {split['reported_part']}"
    )
    hits = ", ".join(f"{k} {'cached' if v else 'built'}" for k, v in summary["cache_hits"].items())
    secs = ", ".join(f"{k} {v:.1f}s" for k, v in summary["seconds"].items())
    say(f"time         {secs} ({hits}); peak memory {summary['peak_memory_mb']:.0f} MB")
    for name, path in summary["artifacts"].items():
        say(f"artifact     {name}: {path}")


def cmd_prepare(args: argparse.Namespace) -> int:
    from recsys_core.pipeline import prepare

    t0 = time.perf_counter()
    bars = progress_bar()
    prepared = prepare(dataset_settings_from_args(args), split_settings_from_args(args), bars)
    bars.close()
    summary = prepare_summary(prepared, t0)
    print_prepare_summary(summary)
    emit_json(args, summary)
    return 0


def cmd_walks(args: argparse.Namespace) -> int:
    from recsys_core.pipeline import make_walks, prepare
    from recsys_core.walks import WalkSettings
    from recsys_core.walks.digest import walks_digest

    walk_settings = WalkSettings(
        walks_per_node=args.walks_per_node,
        length=args.length,
        p=args.p,
        q=args.q,
        seed=args.walk_seed,
    )
    t0 = time.perf_counter()
    bars = progress_bar()
    prepared = prepare(dataset_settings_from_args(args), split_settings_from_args(args), bars)
    t_walk = time.perf_counter()
    walks, key, hit = make_walks(prepared, walk_settings, bars)
    walk_seconds = time.perf_counter() - t_walk
    bars.close()
    summary = prepare_summary(prepared, t0)
    print_prepare_summary(summary)
    asins = prepared.dataset.asins
    say(
        f"walks        {walks.shape[0]:,} walks x {walks.shape[1]} nodes "
        f"(p={args.p}, q={args.q}) in {walk_seconds:.2f} s ({'cached' if hit else 'built'})"
    )
    for row in walks[: args.show]:
        say("             " + " ".join(asins[row]))
    path = cache.artifact_dir("walks", key)
    say(f"artifact     walks: {path}")
    digest = walks_digest(walks)
    say(f"walks hash   {digest}")
    summary.update(
        {
            "walks": int(walks.shape[0]),
            "walk_length": int(walks.shape[1]),
            "walk_products": len(np.unique(walks)) if walks.size else 0,
            "walk_seconds": round(walk_seconds, 3),
            "walks_cache_hit": hit,
            "walks_hash": digest,
            "peak_memory_mb": round(peak_memory_mb(), 1),
        }
    )
    summary["artifacts"]["walks"] = str(path)
    emit_json(args, summary)
    return 0
