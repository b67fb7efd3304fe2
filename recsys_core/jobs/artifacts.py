"""Checksums of the artifact files a run produced or used.

An artifact is one cache folder ``<kind>/<key>`` (see :mod:`recsys_core.common.cache`); the store
keeps size and sha256 of every file in it, relative to the cache root. A file whose size
or checksum no longer matches is corrupt: its folder's done marker is removed, so the
pipeline rebuilds it instead of loading it.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from recsys_core.common.integrity import DONE_MARKER, sha256_file

log = logging.getLogger(__name__)


def cache_root() -> Path:
    from recsys_core.common import cache

    return cache.cache_root()


@dataclasses.dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the cache root, "/"-separated
    size: int
    sha256: str

    @property
    def folder(self) -> str:
        """The artifact folder ``kind/key`` this file belongs to."""
        return "/".join(self.path.split("/")[:2])


def relative(folder: Path, root: Path | None = None) -> str:
    root = root or cache_root()
    return Path(folder).resolve().relative_to(root.resolve()).as_posix()


def scan(folders: Iterable[Path], root: Path | None = None) -> list[FileRecord]:
    """Size and checksum of every complete file in ``folders`` (temporary files skipped)."""
    root = (root or cache_root()).resolve()
    records = []
    for folder in folders:
        folder = Path(folder).resolve()
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                records.append(
                    FileRecord(
                        path=path.relative_to(root).as_posix(),
                        size=path.stat().st_size,
                        sha256=sha256_file(path),
                    )
                )
    return records


def problems(records: Iterable[FileRecord], root: Path | None = None) -> list[str]:
    """Human-readable problems of recorded files: missing, truncated or changed."""
    root = root or cache_root()
    found = []
    for rec in records:
        path = root / rec.path
        if not path.is_file():
            found.append(f"{rec.path}: missing")
            continue
        size = path.stat().st_size
        if size != rec.size:
            found.append(f"{rec.path}: size {size} bytes, expected {rec.size} (truncated?)")
        elif sha256_file(path) != rec.sha256:
            found.append(f"{rec.path}: checksum differs from the one recorded (corrupt)")
    return found


def invalidate(folder: str, root: Path | None = None) -> None:
    """Mark the artifact folder ``kind/key`` incomplete so the next run rebuilds it."""
    root = root or cache_root()
    marker = root / folder / DONE_MARKER
    marker.unlink(missing_ok=True)
    log.warning("artifact %s is corrupt; it will be rebuilt", folder)


def free(folder: str, root: Path | None = None) -> None:
    """Delete the artifact folder ``kind/key``; its done marker goes first."""
    root = root or cache_root()
    path = root / folder
    (path / DONE_MARKER).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)
