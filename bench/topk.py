"""Top-k at catalog scale: our exact blocked top-k beside approximate indexes.

Vectors are synthetic and clustered (a Gaussian mixture: ``--clusters`` centres, unit
noise), scored by cosine, the rule whose inner-product form is the plain unit vectors.
For each library: build time, time per query for a batch of ``--queries`` products, and
recall@10 against our exact top-k of the same queries. Ours-exact also reports one
Neighbours lookup (:class:`recsys_core.explore.similar.NeighbourIndex`, the page's path).

    python -m bench.topk --products 420000 --dim 128
    python -m bench.topk --products 2000000 --dim 128 --libs ours-ivf,hnswlib

``ours-ivf`` is :class:`recsys_core.explore.topk.AnnIndex` (faiss IVF-Flat plus re-scoring by
the model's rule, what ``recommend --ann`` runs); the others are the libraries called
directly with matched settings (HNSW M=16, ef 100; IVF with 4 sqrt(n) lists, 16 probed;
pynndescent with 30 neighbours).
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

from recsys_core.explore import topk
from recsys_core.models.base import Embeddings

LIBS = ("ours-ivf", "hnswlib", "faiss-hnsw", "faiss-ivf", "pynndescent")


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32) * 2.0
    out = centres[rng.integers(0, clusters, n)]
    out += rng.standard_normal(size=(n, dim), dtype=np.float32)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f[f >= 0]) & set(t[t >= 0])) / 10 for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def run_library(name: str, emb: Embeddings, queries: np.ndarray, threads: int) -> tuple:
    """(build seconds, query seconds for the batch, ids (m, 10)) of one library."""
    unit = emb.ip_form()[0]
    t0 = time.perf_counter()
    if name == "ours-ivf":
        index = topk.AnnIndex(emb, threads=threads)  # faiss IVF, lifted to L2
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        ids = index.top_k(queries, 10).ids
        return build, time.perf_counter() - t0, ids
    if name == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=unit.shape[1])
        index.init_index(max_elements=len(unit), ef_construction=100, M=16, random_seed=0)
        index.add_items(unit, num_threads=threads)
        index.set_ef(100)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        labels, _ = index.knn_query(unit[queries], k=11, num_threads=threads)
    elif name.startswith("faiss"):
        import faiss

        faiss.omp_set_num_threads(threads)
        if name == "faiss-hnsw":
            index = faiss.IndexHNSWFlat(unit.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 100
            index.add(unit)
            index.hnsw.efSearch = 100
        else:
            lists = int(4 * np.sqrt(len(unit)))
            quantizer = faiss.IndexFlatIP(unit.shape[1])
            index = faiss.IndexIVFFlat(quantizer, unit.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
            sample = np.random.default_rng(0).choice(len(unit), min(len(unit), 50 * lists), False)
            index.train(unit[np.sort(sample)])
            index.add(unit)
            index.nprobe = 16
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, labels = index.search(unit[queries], 11)
    else:
        import pynndescent

        index = pynndescent.NNDescent(
            unit, metric="dot", n_neighbors=30, random_state=0, n_jobs=threads
        )
        index.prepare()
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        labels, _ = index.query(unit[queries], k=11)
    seconds = time.perf_counter() - t0
    labels = np.asarray(labels, dtype=np.int64)
    pairs = zip(queries, labels, strict=True)
    ids = np.array([[x for x in row if x != q][:10] for q, row in pairs])
    return build, seconds, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=420_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--libs", default=",".join(LIBS), help=f"comma-separated: {LIBS}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from recsys_core.explore.similar import NeighbourIndex

    emb = Embeddings(
        vectors=clustered(args.products, args.dim, args.clusters, args.seed),
        trained=np.ones(args.products, bool),
    )
    queries = np.random.default_rng(1).choice(args.products, args.queries, replace=False)
    print(
        f"{args.products:,} products, dim {args.dim}, {args.clusters} clusters (synthetic, "
        f"clustered), cosine, {args.queries} queries, {args.threads} threads"
    )
    t0 = time.perf_counter()
    truth = topk.exact_top_k(emb, queries, 10).ids
    exact_s = time.perf_counter() - t0
    index = NeighbourIndex.from_embeddings(emb)
    index.top_k(int(queries[0]), 10)  # warm: the first lookup builds the unit rows
    t0 = time.perf_counter()
    for q in queries[:50]:
        index.top_k(int(q), 10)
    lookup_ms = 1000 * (time.perf_counter() - t0) / 50
    del index  # its unit rows: 1 GB at books scale
    print(f"one Neighbours lookup (ours, exact): {lookup_ms:.1f} ms")
    print(f"| method | build s | ms per query ({args.queries} batched) | recall@10 |")
    print("|---|---|---|---|")
    row("ours-exact", 0.0, exact_s / args.queries, 1.0)
    for name in [x for x in args.libs.split(",") if x]:
        gc.collect()
        build, seconds, ids = run_library(name, emb, queries, args.threads)
        row(name, build, seconds / args.queries, recall(ids, truth))


def row(name: str, build: float, per_query: float, rec: float) -> None:
    """One table row, printed as soon as it is measured."""
    print(f"| {name} | {build:.1f} | {1000 * per_query:.3f} | {rec:.3f} |", flush=True)


if __name__ == "__main__":
    main()
