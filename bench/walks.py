"""Benchmark: graph + random walks, ours against the method's approach and pecanpy.

    python -m bench.walks --preset electronics          # the method's scale (~420k products)
    python -m bench.walks --preset default              # quick
    python -m bench.walks --products 50000 --naive-sample 0.2 --json

The dataset is built once in this process (synthetic preset, split 67/33 as the method
does); each method then runs in its own subprocess so its peak memory (VmHWM) is its own.
Methods: ours first-order, ours node2vec (p=0.5, q=2), the method's networkx + dict +
``random.choices`` walker (bench/naive_walks.py), and pecanpy's PreCompFirstOrder when an
interpreter with pecanpy is available (``--pecanpy-python``; pecanpy 2.0.9 pins numpy<2
through nptyping, so it lives in its own virtual environment).

This module's top level imports only the standard library and numpy: the pecanpy worker
runs it under that other interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WALKS_PER_NODE = 10
LENGTH = 10
NODE2VEC_P, NODE2VEC_Q = 0.5, 2.0
# Used only when recsys_core.data.synthetic is missing: sizes of the method's data sets.
FALLBACK_PRODUCTS = {"default": 20_000, "electronics": 418_749, "books": 2_000_000}
FALLBACK_PAIRS_PER_PRODUCT = 9.5  # electronics: ~4M pairs over ~420k products
REPO = Path(__file__).resolve().parents[1]


# -- data ---------------------------------------------------------------------------------
def fallback_pairs(n_products: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power-law random graph (Chung-Lu style) with the method's relationship weights."""
    rng = np.random.default_rng(seed)
    fitness = rng.pareto(1.5, n_products) + 1.0
    p = fitness / fitness.sum()
    n_edges = int(n_products * FALLBACK_PAIRS_PER_PRODUCT)
    src = rng.choice(n_products, n_edges, p=p)
    dst = rng.choice(n_products, n_edges, p=p)
    w = rng.choice(np.array([1.2, 1.0, 0.5]), n_edges, p=[0.1, 0.5, 0.4])
    keep = src != dst
    lo, hi = np.minimum(src, dst)[keep], np.maximum(src, dst)[keep]
    code, inverse = np.unique(lo * n_products + hi, return_inverse=True)
    weight = np.bincount(inverse, weights=w[keep]).astype(np.float32)
    return (code // n_products).astype(np.int32), (code % n_products).astype(np.int32), weight


def load_pairs(
    preset: str, products: int | None
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, str]:
    """All pairs of the synthetic preset (or the fallback graph) and a description.

    Goes through the artifact cache (``$RECSYS_CACHE_DIR``) when the registry exists, so
    the synthetic electronics catalog (minutes to generate) is built once.
    """
    try:
        from recsys_core.data.registry import DatasetSettings, load_dataset
    except ImportError:
        n = products or FALLBACK_PRODUCTS[preset]
        a, b, w = fallback_pairs(n)
        return n, a, b, w, f"fallback power-law graph ({n:,} products)"
    settings = DatasetSettings(source="synthetic", preset=preset, products=products)
    dataset, hit = load_dataset(settings)
    a, b, w = dataset.pair_arrays()
    cached = " from cache" if hit else ""
    return dataset.n_products, a, b, w, f"synthetic preset {preset!r} ({dataset.name}){cached}"


def train_pairs(
    n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The 67% train share of the pairs, through recsys_core.split when it exists."""
    try:
        import pandas as pd

        from recsys_core.split import SplitSettings, split_pairs
    except ImportError:
        keep = np.random.default_rng(0).random(len(a)) >= 0.33
        return a[keep], b[keep], w[keep], "random 67% mask"
    split = split_pairs(pd.DataFrame({"a": a, "b": b, "weight": w}), n, SplitSettings())
    ta, tb, tw = split.train_arrays()
    return ta, tb, tw, "recsys_core.split.split_pairs"


# -- workers (each runs in its own process) -----------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_input(path: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path) as data:
        return int(data["n"]), data["a"], data["b"], data["w"]


def worker_ours(path: str, p: float, q: float) -> dict:
    from recsys_core.graph import build_graph
    from recsys_core.walks import WalkSettings, generate_walks

    settings = WalkSettings(walks_per_node=WALKS_PER_NODE, length=LENGTH, p=p, q=q)
    # Compile (or load from numba's cache) on a tiny graph so the timings below are runs.
    t0 = time.perf_counter()
    tiny = build_graph(4, np.array([0, 1, 2]), np.array([1, 2, 3]), np.ones(3, np.float32))
    generate_walks(tiny, settings)
    compile_s = time.perf_counter() - t0

    n, a, b, w = load_input(path)
    t0 = time.perf_counter()
    graph = build_graph(n, a, b, w)
    graph_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    walks = generate_walks(graph, settings)
    walk_s = time.perf_counter() - t0
    return {
        "graph_s": graph_s,
        "walk_s": walk_s,
        "compile_s": compile_s,
        "walks": int(walks.shape[0]),
        "edges": int(graph.nnz),
    }


def worker_naive(path: str, sample: float) -> dict:
    from bench.naive_walks import build_transition_dict, random_walks

    _, a, b, w = load_input(path)
    t0 = time.perf_counter()
    nodes, transition_dict, parts = build_transition_dict(a, b, w)
    graph_s = time.perf_counter() - t0
    rows = list(range(len(nodes)))
    if sample < 1.0:
        rng = np.random.default_rng(0)
        rows = sorted(rng.choice(len(nodes), max(1, round(sample * len(nodes))), replace=False))
    t0 = time.perf_counter()
    walks = random_walks(transition_dict, rows, WALKS_PER_NODE, LENGTH)
    walk_s = time.perf_counter() - t0
    fraction = len(rows) / len(nodes)
    return {
        "graph_s": graph_s,
        "walk_s": walk_s / fraction,
        "walk_s_measured": walk_s,
        "compile_s": 0.0,
        "walks": round(walks.shape[0] / fraction),
        "graph_parts_s": parts,
        "extrapolated_from": fraction if fraction < 1.0 else None,
    }


def worker_pecanpy(path: str) -> dict:
    import scipy.sparse as sp
    from numba_progress import ProgressBar
    from pecanpy.pecanpy import PreCompFirstOrder

    n, a, b, w = load_input(path)
    t0 = time.perf_counter()
    off = a != b
    rows = np.concatenate([a, b[off]])
    cols = np.concatenate([b, a[off]])
    graph = sp.coo_matrix((np.concatenate([w, w[off]]), (rows, cols)), shape=(n, n)).tocsr()
    graph.sum_duplicates()
    walker = PreCompFirstOrder(p=1, q=1, workers=os.cpu_count() or 1, random_state=0)
    walker.set_node_ids(None, implicit_ids=True, num_nodes=n)
    walker.indptr = graph.indptr.astype(np.uint32)
    walker.indices = graph.indices.astype(np.uint32)
    walker.data = graph.data.astype(np.float32)
    graph_s = time.perf_counter() - t0

    # pecanpy compiles closures over this graph's arrays on every call, so compile time
    # cannot be warmed up on a tiny graph: time the alias tables (with their compile), then
    # the walk kernel twice and keep the second (compiled) run as its walk time.
    t0 = time.perf_counter()
    walker.preprocess_transition_probs()
    alias_s = time.perf_counter() - t0
    starts = np.flatnonzero(np.diff(walker.indptr) > 0).astype(np.uint32)
    start_ary = np.concatenate([starts] * WALKS_PER_NODE)
    np.random.default_rng(0).shuffle(start_ary)  # as simulate_walks does, for load balance
    move_forward = walker.get_move_forward()
    has_nbrs = walker.get_has_nbrs()
    timings = []
    for _ in range(2):
        t0 = time.perf_counter()
        with ProgressBar(total=len(start_ary), disable=True) as progress:
            # walk_length=L gives L + 1 nodes (column 0 is the start).
            mat = walker._random_walks(
                len(start_ary), LENGTH - 1, 0, start_ary, has_nbrs, move_forward, progress
            )
        timings.append(time.perf_counter() - t0)
    return {
        "graph_s": graph_s,
        "walk_s": timings[1],
        "compile_s": timings[0] - timings[1],
        "alias_s": alias_s,
        "walks": int(mat.shape[0]),
        "nodes_per_walk": int(mat[0, -1]),
    }


def run_worker(args: argparse.Namespace) -> None:
    if args.worker == "ours":
        result = worker_ours(args.input, 1.0, 1.0)
    elif args.worker == "node2vec":
        result = worker_ours(args.input, NODE2VEC_P, NODE2VEC_Q)
    elif args.worker == "naive":
        result = worker_naive(args.input, args.naive_sample)
    else:
        result = worker_pecanpy(args.input)
    result["peak_mb"] = peak_rss_mb()
    print(json.dumps(result))


# -- driver -------------------------------------------------------------------------------
LABELS = {
    "ours": "ours, first-order (numba)",
    "node2vec": f"ours, node2vec p={NODE2VEC_P} q={NODE2VEC_Q}",
    "naive": "method: networkx + dict + random.choices",
    "pecanpy": "pecanpy PreCompFirstOrder",
}


def spawn(method: str, path: str, args: argparse.Namespace) -> dict:
    python = args.pecanpy_python if method == "pecanpy" else sys.executable
    cmd = [python, "-m", "bench.walks", "--worker", method, "--input", path]
    cmd += ["--naive-sample", str(args.naive_sample)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if args.threads:
        env["NUMBA_NUM_THREADS"] = str(args.threads)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pecanpy_available(python: str) -> bool:
    probe = subprocess.run(
        [python, "-c", "import pecanpy.pecanpy, numba_progress, scipy"],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0


def default_pecanpy_python() -> str:
    if os.environ.get("PECANPY_PYTHON"):
        return os.environ["PECANPY_PYTHON"]
    venv = Path("/tmp/pecanpy-venv/bin/python")
    return str(venv) if venv.exists() else sys.executable


def format_table(results: dict[str, dict]) -> str:
    naive_total = None
    if "graph_s" in results.get("naive", {}):
        naive_total = results["naive"]["graph_s"] + results["naive"]["walk_s"]
    header = (
        "| method | graph s | walk s | total s | compile s | peak MB | speed-up vs naive |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for method, r in results.items():
        if "graph_s" not in r:
            lines.append(f"| {LABELS[method]} | skipped: {r.get('error', '')} | | | | | |")
            continue
        total = r["graph_s"] + r["walk_s"]
        speedup = f"{naive_total / total:,.0f}x" if naive_total else "-"
        walk = f"{r['walk_s']:.2f}" + ("*" if r.get("extrapolated_from") else "")
        lines.append(
            f"| {LABELS[method]} | {r['graph_s']:.2f} | {walk} | {total:.2f} | "
            f"{r['compile_s']:.2f} | {r['peak_mb']:,.0f} | {speedup} |"
        )
    return "\n".join(lines)


def check_targets(results: dict[str, dict]) -> list[str]:
    """The brief's targets, each as a PASS/FAIL line (missing figures are skipped)."""
    out = []
    ours, n2v = results.get("ours", {}), results.get("node2vec", {})
    naive, pec = results.get("naive", {}), results.get("pecanpy", {})

    def line(ok: bool, text: str) -> None:
        out.append(f"{'PASS' if ok else 'FAIL'}  {text}")

    if "walk_s" in ours and "walk_s" in naive:
        ratio = (naive["graph_s"] + naive["walk_s"]) / (ours["graph_s"] + ours["walk_s"])
        line(ratio >= 100, f"graph + walks {ratio:,.0f}x faster than the method (target >= 100x)")
    if "walk_s" in ours and "walk_s" in pec:
        ratio = pec["walk_s"] / ours["walk_s"]
        line(ratio >= 1.5, f"walk step {ratio:.2f}x faster than pecanpy's (target >= 1.5x)")
    if "peak_mb" in ours:
        line(ours["peak_mb"] < 2048, f"first-order peak {ours['peak_mb']:,.0f} MB (< 2048)")
    if "walk_s" in ours and "walk_s" in n2v:
        ratio = n2v["walk_s"] / ours["walk_s"]
        line(ratio <= 3, f"node2vec walk {ratio:.2f}x first-order walk time (target <= 3x)")
        line(n2v["peak_mb"] < 3072, f"node2vec peak {n2v['peak_mb']:,.0f} MB (< 3072)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default", choices=sorted(FALLBACK_PRODUCTS))
    parser.add_argument("--products", type=int, default=None, help="override product count")
    parser.add_argument(
        "--naive-sample",
        type=float,
        default=1.0,
        help="walk the naive method from this fraction of start nodes and extrapolate its "
        "walk time linearly (its graph part always runs in full); default 1 = full run",
    )
    parser.add_argument("--skip", default="", help="comma list of methods to skip")
    parser.add_argument("--pecanpy-python", default=default_pecanpy_python())
    parser.add_argument("--threads", type=int, default=0, help="NUMBA_NUM_THREADS for workers")
    parser.add_argument("--json", action="store_true", help="print one JSON line at the end")
    parser.add_argument("--worker", choices=sorted(LABELS), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 < args.naive_sample <= 1:
        parser.error("--naive-sample must be in (0, 1]")
    if args.worker:
        run_worker(args)
        return 0

    t0 = time.perf_counter()
    n, a, b, w, source = load_pairs(args.preset, args.products)
    ta, tb, tw, split_source = train_pairs(n, a, b, w)
    print(
        f"data: {source}; {len(a):,} pairs, train {len(ta):,} ({split_source}); "
        f"prepared in {time.perf_counter() - t0:.1f} s"
    )
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-walks-") as tmp:
        path = os.path.join(tmp, "train.npz")
        np.savez(path, n=n, a=ta, b=tb, w=tw)
        for method in ("ours", "node2vec", "naive", "pecanpy"):
            if method in skip:
                results[method] = {"error": "--skip"}
                continue
            if method == "pecanpy" and not pecanpy_available(args.pecanpy_python):
                results[method] = {
                    "error": f"pecanpy not importable with {args.pecanpy_python} "
                    "(pip install pecanpy in a venv; set PECANPY_PYTHON)"
                }
                continue
            print(f"running {LABELS[method]} ...", flush=True)
            results[method] = spawn(method, path, args)
    print()
    print(
        f"{n:,} products, {len(ta):,} train pairs, {WALKS_PER_NODE} walks x {LENGTH} nodes "
        f"per product with a train edge; {os.cpu_count()} CPUs"
    )
    print(format_table(results))
    naive = results.get("naive", {})
    if naive.get("extrapolated_from"):
        print(
            f"* naive walk time EXTRAPOLATED linearly from {naive['extrapolated_from']:.1%} of "
            f"start nodes ({naive['walk_s_measured']:.1f} s measured)"
        )
    if "graph_parts_s" in naive:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in naive["graph_parts_s"].items())
        print(f"naive graph part: {parts}")
    if "alias_s" in results.get("pecanpy", {}):
        print(
            f"pecanpy alias tables (incl. their JIT) {results['pecanpy']['alias_s']:.2f} s, "
            "not counted in its walk s"
        )
    for line in check_targets(results):
        print(line)
    if args.json:
        print(
            json.dumps(
                {
                    "products": n,
                    "train_pairs": len(ta),
                    "source": source,
                    "results": results,
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
