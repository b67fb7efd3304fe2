"""Walks sharded across Ray workers, identical to the single-machine walks.

The graph's CSR arrays and alias tables (and, for node2vec, the row totals and the edge
set) go into the object store once; on each node the workers read them zero-copy. Each
task walks a contiguous range of rows of the pass-major walks array (see
:mod:`recsys_core.walks.generate`): for every pass the range covers, the same compiled
kernel walks a block of start nodes with ``first_walk`` set to the block's global row
index. Every walk is seeded by (seed, global row index) alone, so the rows come out
bit-identical to :func:`~recsys_core.walks.generate_walks` for any number of workers.

Each task writes its rows as one shard file into the walks artifact folder (shared
storage on a cluster) and returns only a row count; the driver never holds the walks.
"""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_core.cluster import shards
from recsys_core.common import cache
from recsys_core.common.progress import Progress, report
from recsys_core.common.rng import seed_state
from recsys_core.walks.generate import WalkSettings, _walk_arrays, start_nodes

log = logging.getLogger(__name__)

TASK_TIMEOUT = 3600.0


def row_ranges(n_rows: int, n_parts: int) -> list[tuple[int, int]]:
    """``n_parts`` contiguous, nearly equal row ranges covering ``0..n_rows``."""
    n_parts = max(1, min(n_parts, n_rows)) if n_rows else 1
    edges = np.linspace(0, n_rows, n_parts + 1).round().astype(np.int64)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def walk_rows(
    arrays: dict[str, np.ndarray],
    settings: WalkSettings,
    lo: int,
    hi: int,
) -> np.ndarray:
    """Rows ``lo..hi`` of the pass-major walks array, with the single-machine kernels.

    ``arrays`` holds ``indptr, indices, data, threshold, alias, starts`` (and ``totals,
    edges`` for node2vec). Also the body of each Ray task; plain numpy, testable alone.
    """
    from recsys_core.walks.first_order import first_order_pass
    from recsys_core.walks.node2vec import node2vec_pass

    starts = arrays["starts"]
    n_start = starts.shape[0]
    out = np.empty((hi - lo, settings.length), dtype=np.int32)
    state = seed_state(settings.seed)
    inv_p, inv_q = 1.0 / float(settings.p), 1.0 / float(settings.q)
    row = lo
    while row < hi:
        r, s0 = divmod(row, n_start)
        s1 = min(n_start, s0 + (hi - row))
        block = out[row - lo : row - lo + (s1 - s0)]
        first_walk = np.int64(r * n_start + s0)
        if settings.first_order:
            first_order_pass(
                arrays["indptr"],
                arrays["indices"],
                arrays["threshold"],
                arrays["alias"],
                starts[s0:s1],
                state,
                first_walk,
                block,
            )
        else:
            node2vec_pass(
                arrays["indptr"],
                arrays["indices"],
                arrays["data"],
                arrays["threshold"],
                arrays["alias"],
                arrays["totals"],
                arrays["edges"],
                starts[s0:s1],
                inv_p,
                inv_q,
                state,
                first_walk,
                block,
            )
        row += s1 - s0
    return out


def graph_arrays(graph: sp.csr_matrix, settings: WalkSettings) -> dict[str, np.ndarray]:
    """Everything a walk task reads, built once on the driver."""
    from recsys_core.walks.first_order import build_alias_tables
    from recsys_core.walks.node2vec import build_edge_set, row_totals

    if not isinstance(graph, sp.csr_matrix | sp.csr_array):
        graph = sp.csr_matrix(graph)
    indptr, indices, data = _walk_arrays(graph)
    threshold, alias = build_alias_tables(indptr, data)
    arrays = {
        "indptr": indptr,
        "indices": indices,
        "data": data,
        "threshold": threshold,
        "alias": alias,
        "starts": start_nodes(graph),
    }
    if not settings.first_order:
        arrays["totals"] = row_totals(indptr, data)
        arrays["edges"] = build_edge_set(indptr, indices)
    return arrays


def _task_threads() -> None:
    """Numba threads = the CPUs Ray gave this task (not every core of the node)."""
    import numba
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, int(cpus))))


def _shard_task(
    settings_dict: dict[str, Any],
    lo: int,
    hi: int,
    index: int,
    folder: str,
    *values: np.ndarray,
    names: tuple[str, ...] = (),
) -> int:
    _task_threads()
    arrays = dict(zip(names, values, strict=True))
    rows = walk_rows(arrays, WalkSettings(**settings_dict), lo, hi)
    shards.save_shard(Path(folder), index, rows)
    return int(rows.shape[0])


def _walks_task(settings_dict: dict[str, Any], lo: int, hi: int, *values: Any, names=()) -> Any:
    _task_threads()
    return walk_rows(dict(zip(names, values, strict=True)), WalkSettings(**settings_dict), lo, hi)


def default_tasks() -> int:
    """One task per CPU of the cluster."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def write_walk_shards(
    graph: sp.csr_matrix,
    settings: WalkSettings,
    folder: Path,
    n_tasks: int | None = None,
    task_cpus: float = 1.0,
    on_progress: Progress | None = None,
    timeout: float = TASK_TIMEOUT,
) -> tuple[int, int]:
    """Walk on Ray and write the shards + index into ``folder``; returns (rows, length).

    Needs a connection (:func:`recsys_core.cluster.connect`). ``folder`` must be on
    storage every worker sees.
    """
    import ray

    arrays = graph_arrays(graph, settings)
    n_start = arrays["starts"].shape[0]
    n_rows = settings.walks_per_node * n_start
    n_tasks = n_tasks or default_tasks()
    ranges = row_ranges(n_rows, n_tasks) if n_rows else []
    names = tuple(arrays)
    refs = [ray.put(arrays[name]) for name in names]  # once; shared by every task
    task = ray.remote(num_cpus=task_cpus, max_retries=1)(_shard_task)
    settings_dict = settings.as_dict()
    pending = {
        task.remote(settings_dict, lo, hi, i, str(folder), *refs, names=names): i
        for i, (lo, hi) in enumerate(ranges)
    }
    rows = [0] * len(ranges)
    deadline = time.monotonic() + timeout
    done = 0
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise TimeoutError(f"walk shards not done within {timeout:g} s")
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=min(left, 1.0))
        for ref in ready:
            i = pending.pop(ref)
            rows[i] = ray.get(ref)
            done += 1
            report(on_progress, done, len(ranges), f"walks on Ray, {len(ranges)} shards")
    shards.write_index(folder, rows, settings.length)
    del refs
    return n_rows, settings.length


def walks_on_ray(
    graph: sp.csr_matrix, settings: WalkSettings, n_tasks: int | None = None
) -> np.ndarray:
    """The walks as one array, computed by Ray tasks (for tests and benchmarks)."""
    import ray

    arrays = graph_arrays(graph, settings)
    n_rows = settings.walks_per_node * arrays["starts"].shape[0]
    if n_rows == 0:
        return np.empty((0, settings.length), dtype=np.int32)
    names = tuple(arrays)
    refs = [ray.put(arrays[name]) for name in names]
    task = ray.remote(num_cpus=1, max_retries=1)(_walks_task)
    ranges = row_ranges(n_rows, n_tasks or default_tasks())
    parts = ray.get(
        [task.remote(settings.as_dict(), lo, hi, *refs, names=names) for lo, hi in ranges],
        timeout=TASK_TIMEOUT,
    )
    return np.concatenate(parts)


def cached_walks(
    graph: sp.csr_matrix,
    settings: WalkSettings,
    key: str,
    on_progress: Progress | None = None,
    n_tasks: int | None = None,
) -> tuple[np.ndarray, bool]:
    """The walks artifact ``walks/<key>``, built as shards on Ray when missing.

    Returns ``(walks, cache_hit)``; a complete artifact of either form (one machine or
    shards) is reused.
    """
    ok, walks = cache.load_if_complete("walks", key, shards.load_walks, on_progress)
    if ok:
        return walks, True
    with cache.building("walks", key, on_progress) as folder:
        ok, walks = cache.load_if_complete("walks", key, shards.load_walks, on_progress)
        if ok:
            return walks, True
        cache.start_fresh(folder)
        t0 = time.perf_counter()
        write_walk_shards(graph, settings, folder, n_tasks=n_tasks, on_progress=on_progress)
        cache.mark_done(folder, "walks", key, shards=True)
        log.info("walks %s on Ray in %.1f s", key, time.perf_counter() - t0)
    return shards.load_walks(folder), False


def digest_of_artifact(key: str) -> str:
    """Content hash of the walks artifact ``key`` read from disk, shard by shard."""
    from recsys_core.walks.digest import walks_digest

    folder = cache.artifact_dir("walks", key)
    if (folder / "walks.npz").exists():
        return walks_digest(shards.load_walks(folder))
    arrays, n_rows, _ = shards.shard_arrays(folder)
    return walks_digest(arrays, n_rows=n_rows)


__all__ = [
    "cached_walks",
    "digest_of_artifact",
    "graph_arrays",
    "row_ranges",
    "walk_rows",
    "walks_on_ray",
    "write_walk_shards",
]
