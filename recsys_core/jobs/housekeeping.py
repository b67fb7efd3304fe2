"""The artifact cache as a whole: what it holds, and removing what nobody needs.

Every artifact is a folder ``<kind>/<key>`` under the cache root (see
:mod:`recsys_core.common.cache`), with a lock file ``<kind>/.<key>.lock`` held while a
process writes it. :func:`inventory` lists them; :func:`prune` removes old ones or
orphans, never one that a process is writing (its lock is held) or that a queued or
running run of the store uses.

Orphans, precisely:

* a temporary file (``.<name>.<random>.tmp``) in an artifact folder whose lock no process
  holds: a writer that died before renaming it into place;
* an incomplete artifact folder (no ``done.json`` marker) whose lock no process holds:
  a build that crashed or was killed; the next use rebuilds it anyway;
* a ``run`` artifact that no run in the run store names (its key in no run's keys and no
  file of it recorded): e.g. a run whose record was deleted, or one trained in-process
  by ``train`` / ``compare``, which never enter the store;
* a lock file whose artifact folder is gone and that no process holds.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from recsys_core.common import integrity
from recsys_core.common.integrity import DONE_MARKER, LOCK_SUFFIX, TMP_SUFFIX
from recsys_core.jobs.store import ACTIVE, RunStore

log = logging.getLogger(__name__)

DAY = 86_400.0


@dataclasses.dataclass
class Artifact:
    """One artifact folder (or a stray file) of the cache."""

    kind: str
    key: str
    path: Path
    size: int  # bytes, every file inside
    written: float  # epoch seconds: the done marker's time, else the newest file's
    complete: bool  # has a done marker
    manifest: bool  # the marker lists the files' checksums
    writing: bool  # a process holds its lock now

    @property
    def folder(self) -> str:
        return f"{self.kind}/{self.key}"

    def age_days(self, now: float | None = None) -> float:
        return max(0.0, ((now or time.time()) - self.written) / DAY)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "bytes": self.size,
            "age_days": round(self.age_days(now), 3),
            "complete": self.complete,
            "manifest": self.manifest,
            "writing": self.writing,
        }


@dataclasses.dataclass
class Removal:
    """One thing :func:`prune` removed (or would remove, in a dry run), and why."""

    path: Path
    size: int
    reason: str

    def as_dict(self, root: Path) -> dict[str, Any]:
        path = self.path.relative_to(root).as_posix()
        return {"path": path, "bytes": self.size, "reason": self.reason}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:  # removed meanwhile
            pass
    return total


def _written(folder: Path) -> float:
    marker = folder / DONE_MARKER
    try:
        return marker.stat().st_mtime
    except OSError:
        pass
    times = [folder.stat().st_mtime]
    for p in folder.rglob("*"):
        try:
            times.append(p.stat().st_mtime)
        except OSError:
            pass
    return max(times)


def _has_manifest(folder: Path) -> bool:
    import json

    try:
        return "files" in json.loads((folder / DONE_MARKER).read_text())
    except (OSError, ValueError, TypeError):
        return False


def kinds(root: Path) -> list[Path]:
    """The artifact kinds' folders (hidden folders, such as the cluster check, are not)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def inventory(root: Path) -> list[Artifact]:
    """Every artifact folder under ``root``, by kind then key."""
    found = []
    for kind_dir in kinds(root):
        for folder in sorted(kind_dir.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            lock = integrity.lock_path(root, kind_dir.name, folder.name)
            found.append(
                Artifact(
                    kind=kind_dir.name,
                    key=folder.name,
                    path=folder,
                    size=_size(folder),
                    written=_written(folder),
                    complete=(folder / DONE_MARKER).exists(),
                    manifest=_has_manifest(folder),
                    writing=integrity.is_locked(lock),
                )
            )
    return found


def _store_references(store: RunStore) -> tuple[set[str], set[str]]:
    """``(named, active)``: artifact folders ``kind/key`` any run names, and those a
    queued or running run names."""
    named: set[str] = set()
    active: set[str] = set()
    for record in store.list():
        folders = {f"{kind}/{key}" for kind, key in (record.keys or {}).items()}
        folders |= {rec.folder for rec in store.artifacts(record.id)}
        named |= folders
        if record.status in ACTIVE:
            active |= folders
            try:  # a queued run has no keys yet: the folders its settings will use
                from recsys_core.jobs.runners import expected_dirs

                root = store.path.parent
                for path in expected_dirs(record.kind, record.spec):
                    try:
                        active.add(Path(path).relative_to(root).as_posix())
                    except ValueError:
                        pass
            except Exception:  # an undecodable spec protects nothing
                log.debug("no expected folders for run %d", record.id)
    return named, active


def orphans(root: Path, store: RunStore | None) -> list[Removal]:
    """What :func:`prune` with ``orphans=True`` removes (see the module's definition)."""
    named, active = _store_references(store) if store is not None else (set(), set())
    found = []
    for art in inventory(root):
        if art.writing:
            continue
        tmp = [p for p in art.path.rglob(f".*{TMP_SUFFIX}") if p.is_file()]
        found += [Removal(p, p.stat().st_size, "temporary file of a dead writer") for p in tmp]
        if not art.complete:
            found.append(Removal(art.path, art.size, "incomplete: no done marker, no writer"))
        elif (
            art.kind == "run"
            and store is not None
            and art.folder not in named
            and art.folder not in active
        ):
            found.append(Removal(art.path, art.size, "run artifact unknown to the run store"))
    for kind_dir in kinds(root):
        for lock in kind_dir.glob(f".*{LOCK_SUFFIX}"):
            key = lock.name[1 : -len(LOCK_SUFFIX)]
            if not (kind_dir / key).exists() and not integrity.is_locked(lock):
                found.append(Removal(lock, 0, "lock file of a removed artifact"))
    return found


def older_than(root: Path, days: float, store: RunStore | None) -> list[Removal]:
    """Artifacts last written more than ``days`` days ago, except those being written
    and those a queued or running run uses."""
    active = _store_references(store)[1] if store is not None else set()
    now = time.time()
    return [
        Removal(art.path, art.size, f"last written {art.age_days(now):.1f} days ago")
        for art in inventory(root)
        if art.age_days(now) > days and not art.writing and art.folder not in active
    ]


def remove(items: list[Removal], root: Path) -> list[Removal]:
    """Delete what ``items`` name (a folder's done marker first); returns what went.

    A folder is removed under its artifact lock, so a process that starts writing it
    meanwhile is never cut short: that folder is skipped.
    """
    gone = []
    for item in items:
        path = item.path
        if path.is_dir():
            kind, key = path.relative_to(root).parts[:2]
            lock = integrity.lock_path(root, kind, key)
            if integrity.is_locked(lock):
                continue
            with integrity.exclusive(lock):
                (path / DONE_MARKER).unlink(missing_ok=True)
                shutil.rmtree(path, ignore_errors=True)
                lock.unlink(missing_ok=True)  # a waiter notices and locks a fresh file
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
        gone.append(item)
    return gone
