"""Artifacts on disk, keyed by the hash of what produced them.

Every write goes to a temporary name in the same folder, is flushed to the disk (fsync)
and renamed into place, and the folder's entry is flushed too, so a crash or a power cut
never leaves a half-written file that looks complete. Arrays are stored as .npz without
pickle; tables as Parquet; small records as JSON.

An artifact is complete when its ``done.json`` marker, written last, lists every file
with its size and checksum (see :mod:`.integrity`). :func:`cached` checks them before it
loads: a missing, truncated or corrupt file, or one that fails to load, is rebuilt with a
logged note, never handed to the caller. Builders of one artifact key take turns through
a lock file, so the second waits and then loads what the first wrote.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from recsys_core.common import integrity
from recsys_core.common.integrity import DONE_MARKER
from recsys_core.common.progress import Progress, report

log = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_ENV = "RECSYS_CACHE_DIR"

# Temporary files being written right now, so an exit that skips ``finally`` blocks
# (``os._exit`` in a worker) can still remove them: see :func:`discard_partial_files`.
_PARTIAL: set[Path] = set()
_PARTIAL_LOCK = threading.Lock()


def cache_root() -> Path:
    """Folder of all artifacts: ``$RECSYS_CACHE_DIR`` or ``~/.cache/recsys_core``."""
    root = os.environ.get(CACHE_ENV) or os.path.join(Path.home(), ".cache", "recsys_core")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_dir(kind: str, key: str) -> Path:
    """Folder for one artifact (a stage output), e.g. ``walks/3f2a...``."""
    return cache_root() / kind / key


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; flush and rename it into place on success."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=integrity.TMP_SUFFIX, dir=final.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    with _PARTIAL_LOCK:
        _PARTIAL.add(tmp_path)
    try:
        yield tmp_path
        # mkstemp makes owner-only files; artifacts are ordinary files like any other
        os.chmod(tmp_path, 0o644)
        integrity.fsync_path(tmp_path)
        os.replace(tmp_path, final)
        integrity.fsync_path(final.parent)
    finally:
        with _PARTIAL_LOCK:
            _PARTIAL.discard(tmp_path)
        tmp_path.unlink(missing_ok=True)


def discard_partial_files() -> int:
    """Remove the temporary files this process is writing; for exits that skip cleanup."""
    with _PARTIAL_LOCK:
        paths = list(_PARTIAL)
        _PARTIAL.clear()
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
    return len(paths)


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


# -- complete artifacts: manifest, check, lock -------------------------------------------


def mark_done(folder: Path, kind: str, key: str, **extra: Any) -> None:
    """Write the done marker last, with the manifest of every file the folder holds."""
    save_json(
        folder / DONE_MARKER,
        {
            "kind": kind,
            "key": key,
            **extra,
            "written": time.time(),
            "files": integrity.manifest(folder),
        },
    )


def artifact_problem(folder: Path) -> str | None:
    """Why the artifact in ``folder`` cannot be trusted, or None when it can.

    "not built" when it has no done marker; otherwise the first file that is missing,
    truncated or differs from the manifest. A marker without a manifest (an artifact
    written before manifests existed) is trusted.
    """
    marker = folder / DONE_MARKER
    if not marker.exists():
        return "not built"
    try:
        record = load_json(marker)
    except (OSError, ValueError) as exc:
        return f"its done marker is unreadable ({exc})"
    files = record.get("files") if isinstance(record, dict) else None
    if files is None:
        return None
    found = integrity.manifest_problems(folder, files)
    return "; ".join(found[:3]) if found else None


def _note(kind: str, key: str, reason: str, on_progress: Progress | None) -> None:
    message = f"the cached {kind} {key[:12]} is unusable ({reason}); rebuilding it"
    log.warning(message)
    with contextlib.suppress(Exception):  # a note never stops the rebuild
        report(on_progress, 0, 1, message)


def load_if_complete(
    kind: str,
    key: str,
    load: Callable[[Path], T],
    on_progress: Progress | None = None,
) -> tuple[bool, T | None]:
    """``(True, value)`` when ``kind/key`` is complete, intact and loads; else ``(False,
    None)``, with a logged note and its marker removed when it was there but unusable."""
    folder = artifact_dir(kind, key)
    problem = artifact_problem(folder)
    if problem == "not built":
        return False, None
    if problem is None:
        try:
            return True, load(folder)
        except Exception as exc:  # any failure to read means: build it again
            problem = f"it failed to load: {type(exc).__name__}: {exc}"
    _note(kind, key, problem, on_progress)
    (folder / DONE_MARKER).unlink(missing_ok=True)
    return False, None


@contextlib.contextmanager
def building(kind: str, key: str, on_progress: Progress | None = None) -> Iterator[Path]:
    """Hold the artifact's lock while building it; yields its folder.

    Waiting for another builder reports progress (so a cancel can interrupt the wait).
    Inside, the caller checks again whether the other builder finished it, and otherwise
    calls :func:`start_fresh` before writing.
    """
    lock = integrity.lock_path(cache_root(), kind, key)

    def waiting() -> None:
        report(on_progress, 0, 1, f"waiting for another process building {kind} {key[:12]}")

    with integrity.exclusive(lock, on_wait=waiting):
        yield artifact_dir(kind, key)


def start_fresh(folder: Path) -> None:
    """Empty an incomplete artifact folder (left by a crash) before building it anew.

    Only under :func:`building`'s lock: no other process writes there then.
    """
    (folder / DONE_MARKER).unlink(missing_ok=True)
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def cached(
    kind: str,
    key: str,
    build: Callable[[], T],
    save: Callable[[Path, T], None],
    load: Callable[[Path], T],
    on_progress: Progress | None = None,
) -> tuple[T, bool]:
    """Load the artifact ``kind/key`` if it is complete, else build, save and return it.

    Returns ``(value, hit)``. Completeness is a ``done.json`` marker with the files'
    manifest, written last, so an artifact interrupted half-way, truncated or corrupted
    afterwards is rebuilt rather than trusted.
    """
    ok, value = load_if_complete(kind, key, load, on_progress)
    if ok:
        return value, True  # type: ignore[return-value]
    with building(kind, key, on_progress) as folder:
        ok, value = load_if_complete(kind, key, load, on_progress)  # another built it
        if ok:
            return value, True  # type: ignore[return-value]
        value = build()
        start_fresh(folder)
        save(folder, value)
        mark_done(folder, kind, key)
    return value, False
