"""What makes an artifact trustworthy on disk: checksums, durable writes, one writer.

An artifact folder ``<kind>/<key>`` is complete when its done marker exists and lists
every file with its size and sha256 (the *manifest*). A folder whose files disagree with
the manifest is corrupt and gets rebuilt; a marker without a manifest (written before
manifests existed) is trusted as it was then, and a load that fails rebuilds it too.

Writers hold an exclusive ``flock`` on ``<kind>/.<key>.lock`` while they build, so two
processes (a CLI run and a worker, two app servers) never write the same folder at once:
the second waits and then loads what the first wrote.

This module imports nothing heavy (no numpy or pandas), so the job layer's light
processes can use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DONE_MARKER = "done.json"
LOCK_SUFFIX = ".lock"
TMP_SUFFIX = ".tmp"

# Hashing costs about a second per GB; a file whose size and modification time are
# unchanged since this process hashed it is not hashed again.
_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """The sha256 of ``path`` (memoised per process on path, size and mtime)."""
    stat = path.stat()
    memo_key = (str(path), stat.st_size, stat.st_mtime_ns)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    _MEMO[memo_key] = digest.hexdigest()
    return _MEMO[memo_key]


def content_files(folder: Path) -> list[Path]:
    """The artifact's own files: everything but the marker and hidden (temporary) files."""
    if not folder.is_dir():
        return []
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.name != DONE_MARKER
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]


def manifest(folder: Path) -> dict[str, list[Any]]:
    """``{relative path: [size, sha256]}`` of the artifact's files."""
    return {
        p.relative_to(folder).as_posix(): [p.stat().st_size, sha256_file(p)]
        for p in content_files(folder)
    }


def manifest_problems(folder: Path, files: dict[str, list[Any]]) -> list[str]:
    """How the files in ``folder`` differ from ``files`` (empty when they agree)."""
    found = []
    for name, (size, digest) in files.items():
        path = folder / name
        if not path.is_file():
            found.append(f"{name} is missing")
            continue
        actual = path.stat().st_size
        if actual != size:
            found.append(f"{name} has {actual} bytes, {size} were written (truncated?)")
        elif sha256_file(path) != digest:
            found.append(f"{name} differs from its recorded checksum (corrupt)")
    return found


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders; the rename still holds
        pass
    finally:
        os.close(fd)


def lock_path(root: Path, kind: str, key: str) -> Path:
    """The lock file of the artifact ``kind/key``: beside its folder, never inside it."""
    return root / kind / f".{key}{LOCK_SUFFIX}"


def is_locked(path: Path) -> bool:
    """True while some process holds the lock file ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextlib.contextmanager
def exclusive(
    path: Path, on_wait: Callable[[], None] | None = None, poll: float = 0.1
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created when absent) for the block.

    While another process holds it, ``on_wait`` is called every ``poll`` seconds (it may
    raise to give up, e.g. on cancel). Each acquisition opens the file anew, so threads of
    one process exclude each other too. A lock file removed by a prune between open and
    lock is detected (its inode no longer on disk) and the lock taken again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not told:
                        log.info("waiting for another process writing %s", path.parent)
                        told = True
                    if on_wait is not None:
                        on_wait()
                    time.sleep(poll)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)  # closing releases the lock
