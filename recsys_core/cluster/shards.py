"""Walks stored as row shards: ``walks/<key>/shards/part-NNNNN.npy`` + ``shards.json``.

Ray workers write one plain ``.npy`` file each (atomically, straight to the cache), so
walks never pass through the driver's memory on the way to disk. The shards, read in
the order ``shards.json`` lists them, are the same rows as the single-machine
``walks.npz``; :func:`load_walks` reads either form. Nothing here imports Ray.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys_core.common import cache

SHARD_DIR = "shards"
INDEX = "shards.json"


def shard_name(index: int) -> str:
    return f"part-{index:05d}.npy"


def save_shard(folder: Path, index: int, rows: np.ndarray) -> Path:
    """Write one shard atomically; returns its path."""
    path = folder / SHARD_DIR / shard_name(index)
    with cache.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(rows, dtype=np.int32), allow_pickle=False)
    return path


def write_index(folder: Path, rows: list[int], length: int) -> None:
    """Record the shards in order; written after every shard is on disk."""
    cache.save_json(
        folder / INDEX,
        {
            "shards": [shard_name(i) for i in range(len(rows))],
            "rows": [int(r) for r in rows],
            "length": int(length),
        },
    )


def shard_arrays(folder: Path, mmap: bool = True) -> tuple[list[np.ndarray], int, int]:
    """The shards of ``folder`` in order (memory-mapped), their total rows and length."""
    index = cache.load_json(folder / INDEX)
    arrays = []
    for name, rows in zip(index["shards"], index["rows"], strict=True):
        array = np.load(folder / SHARD_DIR / name, mmap_mode="r" if mmap else None)
        if array.shape != (rows, index["length"]) or array.dtype != np.int32:
            raise ValueError(f"walk shard {name} has shape {array.shape}, expected {rows} rows")
        arrays.append(array)
    return arrays, int(sum(index["rows"])), int(index["length"])


def load_walks(folder: Path) -> np.ndarray:
    """The walks artifact in ``folder``: ``walks.npz`` (one machine) or shards (Ray)."""
    if (folder / "walks.npz").exists():
        return cache.load_arrays(folder / "walks.npz")["walks"]
    arrays, n_rows, length = shard_arrays(folder)
    walks = np.empty((n_rows, length), dtype=np.int32)
    row = 0
    for array in arrays:
        walks[row : row + array.shape[0]] = array
        row += array.shape[0]
    return walks
