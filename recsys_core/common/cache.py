"""Artifacts on disk, keyed by the hash of what produced them.

Every write goes to a temporary name in the same folder and is renamed into place, so a
crash never leaves a half-written file that looks complete. Arrays are stored as .npz
without pickle; tables as Parquet; small records as JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")

CACHE_ENV = "RECSYS_CACHE_DIR"


def cache_root() -> Path:
    """Folder of all artifacts: ``$RECSYS_CACHE_DIR`` or ``~/.cache/recsys_core``."""
    root = os.environ.get(CACHE_ENV) or os.path.join(Path.home(), ".cache", "recsys_core")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_dir(kind: str, key: str) -> Path:
    """Folder for one artifact (a stage output), e.g. ``walks/3f2a...``."""
    return cache_root() / kind / key


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it into place on success."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes owner-only files; artifacts are ordinary files like any other
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def save_frame(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def load_frame(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def save_json(path: Path, record: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


DONE_MARKER = "done.json"


def cached(
    kind: str,
    key: str,
    build: Callable[[], T],
    save: Callable[[Path, T], None],
    load: Callable[[Path], T],
) -> tuple[T, bool]:
    """Load the artifact ``kind/key`` if it is complete, else build, save and return it.

    Returns ``(value, hit)``. Completeness is a ``done.json`` marker written last, so an
    artifact interrupted half-way is rebuilt rather than trusted.
    """
    folder = artifact_dir(kind, key)
    marker = folder / DONE_MARKER
    if marker.exists():
        try:
            return load(folder), True
        except (OSError, ValueError, KeyError):
            marker.unlink(missing_ok=True)  # corrupt: fall through and rebuild
    value = build()
    folder.mkdir(parents=True, exist_ok=True)
    save(folder, value)
    save_json(marker, {"kind": kind, "key": key})
    return value, False
