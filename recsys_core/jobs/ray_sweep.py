"""Sweeps: a grid over model settings, each point an ordinary run in the store.

``python -m recsys_core sweep --grid dim=32,64 --grid window=3,5`` submits one run per
point of the grid (here 4) on the same dataset, split and walks, then follows them. Sweep
runs evaluate on validation: their table is for choosing, and never reads test labels.

* With Ray (``--ray`` / ``RECSYS_RAY_ADDRESS``) this process connects once, builds the
  shared walks as shards on the cluster, and drives the runs itself as a
  :class:`~.ray_worker.RayWorker`: as many Ray actors at a time as the cluster has CPUs
  for, every one reading the same cached walks.
* Without Ray the runs go to the local worker processes, as any submitted run.

Either way each run is visible, followable and cancellable in the app and in ``runs``;
the same settings submitted again reuse the finished run. ``compare`` under Ray uses the
same path (:func:`run_all`).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from recsys_core.jobs.specs import submission
from recsys_core.jobs.store import RunStore

log = logging.getLogger(__name__)

# Short names the CLI already uses for model settings.
ALIASES = {"dim": "vector_size"}


def parse_grid(items: Sequence[str], parse: Callable[[str], Any] = str) -> dict[str, list[Any]]:
    """``["dim=32,64", "window=3,5"]`` -> ``{"vector_size": [32, 64], "window": [3, 5]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = ALIASES.get(name.strip(), name.strip())
        if not sep or not name or not values.strip():
            raise ValueError(f"--grid expects NAME=V1,V2,..., got {item!r}")
        if name in grid:
            raise ValueError(f"--grid {name} given twice; list all its values in one option")
        grid[name] = [parse(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the order given."""
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def sweep_specs(base: Any, grid: dict[str, list[Any]]) -> list[Any]:
    """One :class:`~recsys_core.pipeline.RunSpec` per grid point, ``base`` otherwise.

    Every point evaluates on validation (``evaluate_on="validation"``): a sweep is for
    choosing settings, and no choice may read a test label.
    """
    from recsys_core.models.registry import dimension_field

    size_field = dimension_field(base.model)
    if "vector_size" in grid and size_field not in (None, "vector_size"):
        grid = {(size_field if k == "vector_size" else k): v for k, v in grid.items()}  # MF: dim
    specs = []
    for point in grid_points(grid):
        params = dict(base.model_params) | point
        specs.append(
            dataclasses.replace(
                base, model_params=tuple(sorted(params.items())), evaluate_on="validation"
            )
        )
    for spec in specs:
        spec.validate()  # a bad value fails before anything is submitted
    return specs


def enqueue_all(specs: Sequence[Any], store: RunStore) -> list[int]:
    """Queue every spec (an existing live run of the same settings is reused)."""
    ids = []
    for spec in specs:
        sub = submission(spec)
        run_id, _ = store.enqueue(sub.spec, sub.key, sub.model, sub.dataset)
        ids.append(run_id)
    return ids


def shared_walks(spec: Any, on_progress: Any = None) -> None:
    """Build (or find) the walks every run of the sweep reads, before any run starts."""
    from recsys_core.models.registry import model_class
    from recsys_core.pipeline import make_walks, prepare

    if not model_class(spec.model).uses_walks:
        return
    prepared = prepare(spec.dataset, spec.split, on_progress)
    make_walks(prepared, spec.walk_settings(), on_progress)


def run_all(
    specs: Sequence[Any],
    store: RunStore,
    on_progress: Any = None,
    timeout: float | None = None,
) -> list[int]:
    """Submit ``specs`` and execute them; returns the run ids once all have ended.

    With a Ray setting this process drives the runs on Ray in parallel; otherwise the
    local worker processes take them and this waits.
    """
    from recsys_core import cluster

    if cluster.enabled():
        cluster.connect()
        pipeline_specs = [s for s in specs if hasattr(s, "walk_settings")]
        shared = {(s.dataset, s.split, s.walk_settings()): s for s in pipeline_specs}
        for spec in shared.values():
            shared_walks(spec, on_progress)
    ids = enqueue_all(specs, store)
    if cluster.enabled():
        from recsys_core.jobs.ray_worker import RayWorker

        worker = RayWorker(store)
        if threading.current_thread() is threading.main_thread():
            from recsys_core.jobs.worker import _watch_signals

            _watch_signals(worker)  # Ctrl-C: the runs end "interrupted", as in a worker
        worker.loop(linger=0)
    elif store.workers_needed():
        store.start_worker()
    deadline = None if timeout is None else time.monotonic() + timeout
    while any(store.get(i).active for i in ids):
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"runs {ids} not done within {timeout:g} s")
        time.sleep(0.25)
    return ids
