"""Benchmark: walks on Ray with 1 and 2 workers against the local kernel.

    python -m bench.ray                      # default preset (~20k products), 3 repeats
    python -m bench.ray --products 100000 --json

One local Ray head (2 CPUs, token auth, no dashboard, ports 26379-26999) serves every
measurement. Each figure is the median of ``--repeat`` timed runs after one untimed
warm-up (numba compiles in each fresh Ray worker on its first task). Every variant
writes the same walks to disk, as the CLI does, and the walks hashes are checked equal:

* local kernel, 1 and 2 numba threads: ``generate_walks`` + ``walks.npz``;
* Ray, 1 and 2 workers: alias tables built on the driver, arrays put in the object store
  once, tasks of 1 CPU (1 numba thread) each write one shard
  (:func:`recsys_core.cluster.walks.write_walk_shards`).

The ratio column is time / (local kernel, 2 threads): the overhead of going through Ray
on one machine, where there is nothing to gain but the way to more machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    fn()  # warm-up: compilation, first task in each worker
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["default"])
    parser.add_argument("--products", type=int, help="synthetic products (default: preset)")
    parser.add_argument("--walks-per-node", type=int, default=10)
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--train",
        action="store_true",
        help="also: Ray Train data-parallel skip-gram, AUC and time with 1 and 2 workers",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)

    import numba

    from recsys_core import cluster
    from recsys_core.cluster import shards
    from recsys_core.cluster.walks import write_walk_shards
    from recsys_core.common import cache
    from recsys_core.data.registry import DatasetSettings
    from recsys_core.pipeline import prepare
    from recsys_core.walks import WalkSettings, generate_walks
    from recsys_core.walks.digest import walks_digest

    prepared = prepare(
        DatasetSettings(source="synthetic", preset=args.preset, products=args.products)
    )
    graph = prepared.graph
    settings = WalkSettings(walks_per_node=args.walks_per_node, length=args.length)
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    rows: list[dict] = []
    hashes: dict[str, str] = {}

    def local(threads: int) -> Callable[[], object]:
        def go() -> None:
            numba.set_num_threads(threads)
            walks = generate_walks(graph, settings)
            cache.save_arrays(work / f"local{threads}" / "walks.npz", walks=walks)
            hashes[f"local {threads} threads"] = walks_digest(walks)

        return go

    def on_ray(workers: int) -> Callable[[], object]:
        def go() -> None:
            folder = work / f"ray{workers}"
            write_walk_shards(graph, settings, folder, n_tasks=workers)
            arrays, n_rows, _ = shards.shard_arrays(folder)
            hashes[f"ray {workers} workers"] = walks_digest(arrays, n_rows=n_rows)

        return go

    default_threads = numba.get_num_threads()
    for threads in (1, min(2, default_threads)):
        median, times = timed(local(threads), args.repeat)
        rows.append(
            {"variant": f"local kernel, {threads} thread(s)", "seconds": median, "runs": times}
        )
    numba.set_num_threads(default_threads)
    t0 = time.perf_counter()
    cluster.connect("local", num_cpus=2)
    start_seconds = time.perf_counter() - t0
    train_rows: list[dict] = []
    try:
        for workers in (1, 2):
            median, times = timed(on_ray(workers), args.repeat)
            rows.append({"variant": f"Ray, {workers} worker(s)", "seconds": median, "runs": times})
        if args.train:
            train_rows = ray_train(prepared, generate_walks(graph, settings), work)
    finally:
        cluster.shutdown()
    if len(set(hashes.values())) != 1:
        raise SystemExit(f"walks differ between variants: {hashes}")
    base = rows[1]["seconds"]
    n_walks = settings.walks_per_node * int((np.diff(graph.indptr) > 0).sum())
    print(
        f"{prepared.dataset.name}: {graph.shape[0]:,} products, {graph.nnz // 2:,} edges, "
        f"{n_walks:,} walks x {settings.length}; median of {args.repeat}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'variant':<28} {'seconds':>8} {'ratio':>6}")
    for row in rows:
        row["ratio"] = row["seconds"] / base
        print(f"{row['variant']:<28} {row['seconds']:8.2f} {row['ratio']:6.2f}")
    print(f"local Ray head start + connect: {start_seconds:.1f} s (once per process)")
    print(f"walks hash (all variants): {next(iter(hashes.values()))}")
    for row in train_rows:
        print(
            f"Ray Train sgns (torch DDP, gloo), {row['workers']} worker(s): AUC {row['auc']:.4f}"
            f" in {row['seconds']:.1f} s"
        )
    if args.json:
        print(
            json.dumps(
                {
                    "products": int(graph.shape[0]),
                    "walks": n_walks,
                    "rows": rows,
                    "ray_start_seconds": start_seconds,
                    "walks_hash": next(iter(hashes.values())),
                    "load_average": os.getloadavg()[0],
                    "ray_train": train_rows,
                }
            )
        )
    return 0


def ray_train(prepared: object, walks: np.ndarray, work: Path) -> list[dict]:
    """AUC and time of the data-parallel torch skip-gram with 1 and 2 Ray Train workers."""
    from recsys_core.evaluation.evaluate import evaluate
    from recsys_core.jobs.ray_train import train_data_parallel
    from recsys_core.models.base import Embeddings
    from recsys_core.models.sgns import SkipGramSettings

    n = prepared.dataset.n_products
    settings = SkipGramSettings(vector_size=32, epochs=3, batch_size=1024, seed=1)
    trained = np.bincount(walks.ravel(), minlength=n) > 0
    rows = []
    for workers in (1, 2):
        t0 = time.perf_counter()
        vectors = train_data_parallel(walks, n, settings, workers, work / "train")
        seconds = time.perf_counter() - t0
        report = evaluate(
            Embeddings(vectors=vectors, trained=trained),
            prepared.split.val,
            prepared.split.seen_products,
            train_graph=prepared.graph,
        )
        rows.append({"workers": workers, "auc": float(report.auc_all), "seconds": seconds})
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
