"""Peak memory and time of a job, estimated from its settings before it starts.

A server shared by a team must refuse a job that would exhaust the machine *before* it
allocates anything, so every kind of job the app can start (a dataset build, a training
run, a baseline, a UMAP projection) has an estimate here, computed from the sizes its
settings imply (products, pairs, walks, dimension) without loading anything big.

The per-unit costs are measured on the built-in catalog (``python -m recsys_core prepare``
at 20k and 100k products: about 460 bytes and 13 microseconds per pair for the build, on
one busy core) and from the training benchmark (``bench/README.md``); they are rounded up,
so an estimate errs on the large side. They are estimates, not bounds: the limit below
keeps a margin for that.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

MB = 1024**2
GB = 1024**3

# What a Python process with numpy, pandas and the engine holds before any data.
BASE_BYTES = 200 * MB
# Building a catalog (parse, pairs, products frame, split, graph): per pair.
BUILD_BYTES_PER_PAIR = 480
BUILD_SECONDS_PER_PAIR = 1.5e-5
# A built dataset loaded from the cache (pairs, products, split, graph): per pair.
LOADED_BYTES_PER_PAIR = 160
# Amazon files: parsed text held as records, per byte of uncompressed text.
TEXT_BYTES_PER_BYTE = 3.0
GZIP_RATIO = 5.0
TEXT_BYTES_PER_SECOND = 20 * MB
# Skip-gram family: tokens (walk positions) trained per second per epoch, all cores.
TOKENS_PER_SECOND = 400_000
WALK_TOKENS_PER_SECOND = 5_000_000
# MF on pairs: pairs (with their negatives) per second per epoch.
PAIRS_PER_SECOND = 300_000
# The baselines score every test pair and rank the held-out partners: per pair.
BASELINE_SECONDS_PER_PAIR = 8e-6
# UMAP on a sample: per point (nearest-neighbour graph and layout), and its import.
UMAP_SECONDS_PER_POINT = 4e-3
UMAP_BYTES_PER_POINT = 6 * 1024
UMAP_BASE_BYTES = 400 * MB
# Top-k export (bench/README.md "Top-k and the approximate index", 420k products, dim 128):
# exact scoring at ~3e9 multiply-adds per second, the index's build ~2.2e-4 s per product
# and a query ~1.2 ms at 420k (it scans ~sqrt(n) candidates); writing a 300k-row table
# took 3 (CSV) and 0.6 (Parquet) microseconds and ~110 / ~40 bytes per row with titles,
# and the table held ~140 bytes per row in memory. Rounded up.
EXPORT_MACS_PER_SECOND = 2e9
EXPORT_INDEX_SECONDS_PER_PRODUCT = 3e-4
EXPORT_QUERY_SECONDS_AT_420K = 2e-3
EXPORT_SECONDS_PER_ROW = {"csv": 5e-6, "parquet": 2e-6}
EXPORT_FILE_BYTES_PER_ROW = {"csv": 40, "parquet": 15}  # plus the row's title text
EXPORT_MEMORY_PER_ROW = 160

# A server keeps this share of the available memory free when no limit is set.
DEFAULT_MARGIN = 0.25
LIMIT_ENV = "RECSYS_MEMORY_LIMIT"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What a job will need at its peak: bytes of memory and seconds of work."""

    what: str
    peak_bytes: int
    seconds: float

    def describe(self) -> str:
        """``~40 s, ~1.2 GB`` (rounded up; meant to be read beside a button)."""
        return f"~{_duration(self.seconds)}, ~{size_text(self.peak_bytes)}"

    def __add__(self, other: Estimate) -> Estimate:
        # Stages of one job run one after the other: memory is the larger, time the sum.
        return Estimate(
            self.what, max(self.peak_bytes, other.peak_bytes), self.seconds + other.seconds
        )


def size_text(n: float) -> str:
    if n >= GB:
        return f"{n / GB:.1f} GB"
    return f"{max(1, round(n / MB))} MB"


def _duration(s: float) -> str:
    if s < 60:
        return f"{max(1, round(s))} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def parse_bytes(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"2.5GB"`` or plain bytes as an integer number of bytes."""
    raw = text.strip().upper().removesuffix("B")
    units = {"K": 1024, "M": MB, "G": GB, "T": 1024 * GB}
    factor = units.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in units else raw
    try:
        value = float(number)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a memory size: write bytes or a number with K, M, G or T"
        ) from None
    if value <= 0:
        raise ValueError(f"{text!r} is not a memory size: it must be above 0")
    return int(value * factor)


def available_memory() -> int:
    """Bytes the kernel says can be allocated without swapping (``MemAvailable``)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    return int(pages * os.sysconf("SC_PAGE_SIZE")) if pages else 4 * GB


def memory_limit(setting: str | None = None) -> int:
    """The most memory one job may ask for: the operator's setting, else what is
    available now less a margin (``DEFAULT_MARGIN``)."""
    text = setting if setting is not None else os.environ.get(LIMIT_ENV, "")
    if text.strip():
        return parse_bytes(text)
    return int(available_memory() * (1 - DEFAULT_MARGIN))


def refusal(estimate: Estimate, limit: int) -> str:
    """One sentence when ``estimate`` needs more than ``limit`` bytes, else ""."""
    if estimate.peak_bytes <= limit:
        return ""
    return (
        f"{estimate.what.capitalize()} would need about {size_text(estimate.peak_bytes)} of "
        f"memory, more than this server allows one job ({size_text(limit)}): choose fewer "
        "products or smaller settings."
    )


# -- sizes a job's settings imply ------------------------------------------------------------


def dataset_size(settings: Any) -> tuple[int, int]:
    """(products, pairs) a dataset's settings imply, without loading it (0 when unknown)."""
    if settings.source == "synthetic":
        s = settings.synthetic_settings()
        return int(s.products), round(s.avg_degree * s.products / 2)
    if settings.source == "movielens":
        return 1_700, 100_000
    return 0, 0


def _text_bytes(path: str | None) -> int:
    try:
        p = Path(path or "").expanduser()
        size = p.stat().st_size
    except OSError:
        return 0
    return int(size * (GZIP_RATIO if p.name.endswith(".gz") else 1.0))


def dataset_build(settings: Any) -> Estimate:
    """Building a dataset (load or generate, split, train graph) in the server."""
    what = f"building {settings.describe()}"
    if settings.source == "amazon":
        text = _text_bytes(settings.path)
        return Estimate(
            what, BASE_BYTES + int(text * TEXT_BYTES_PER_BYTE), text / TEXT_BYTES_PER_SECOND
        )
    _, pairs = dataset_size(settings)
    return Estimate(what, BASE_BYTES + pairs * BUILD_BYTES_PER_PAIR, pairs * BUILD_SECONDS_PER_PAIR)


def _loaded(products: int, pairs: int) -> int:
    return BASE_BYTES + pairs * LOADED_BYTES_PER_PAIR + products * 64


def walk_tokens(walk_settings: Any, products: int) -> int:
    """Walk positions (``walks_per_node x products x length``) of a walk corpus."""
    return int(walk_settings.walks_per_node) * int(products) * int(walk_settings.length)


def training_run(spec: Any, products: int, pairs: int) -> Estimate:
    """One training run of ``spec`` (walks, model, evaluation) in a worker."""
    from recsys_core.models.registry import model_class

    cls = model_class(spec.model)
    model = spec.model_settings()
    dim = int(getattr(model, "vector_size", getattr(model, "dim", 128)) or 0)
    epochs = int(getattr(model, "epochs", 1) or 1)
    base = _loaded(products, pairs)
    # Input and output vectors (and the optimiser's copy for MF), float32.
    vectors = 3 * products * dim * 4
    what = f"training {spec.model}"
    if spec.model in ("popularity", "adamic-adar"):
        return baseline(spec.model, products, pairs)
    if cls.uses_walks:
        tokens = walk_tokens(spec.walk_settings(), products)
        seconds = tokens / WALK_TOKENS_PER_SECOND + epochs * tokens / TOKENS_PER_SECOND
        # The walks as int32, plus one shuffled copy the trainers make per epoch.
        return Estimate(what, base + vectors + 2 * tokens * 4, seconds)
    return Estimate(what, base + vectors, epochs * pairs / PAIRS_PER_SECOND)


def baseline(model: str, products: int, pairs: int) -> Estimate:
    """A no-training baseline (popularity, Adamic-Adar) scored on one split."""
    return Estimate(
        f"scoring {model}", _loaded(products, pairs) * 2, pairs * BASELINE_SECONDS_PER_PAIR
    )


def evaluation_only(products: int, pairs: int, dim: int = 128) -> Estimate:
    """Scoring a trained run's vectors on another protocol's pairs (no training)."""
    return Estimate(
        "evaluating a run",
        _loaded(products, pairs) + 2 * products * dim * 4,
        pairs * BASELINE_SECONDS_PER_PAIR,
    )


def umap(points: int, dim: int) -> Estimate:
    """A UMAP projection of ``points`` vectors of ``dim`` floats (in a child process)."""
    return Estimate(
        "the UMAP projection",
        UMAP_BASE_BYTES + points * (UMAP_BYTES_PER_POINT + dim * 4),
        10 + points * UMAP_SECONDS_PER_POINT,
    )


def topk_file_bytes(rows: int, title_chars: float, fmt: str) -> int:
    """Size of a top-k file of ``rows`` rows whose two titles average ``title_chars``
    characters each (0 for a catalog without titles)."""
    per_row = EXPORT_FILE_BYTES_PER_ROW[fmt] + 2 * title_chars * (1.0 if fmt == "csv" else 0.35)
    return int(rows * per_row)


def topk_export(
    products: int, queries: int, k: int, dim: int, exact: bool, file_bytes: int, fmt: str
) -> Estimate:
    """Top ``k`` of ``queries`` products over ``products`` candidates of ``dim`` floats,
    as a table and its file of ``file_bytes`` (:func:`topk_file_bytes`) in the server."""
    rows = queries * k
    if exact:
        seconds = queries * products * max(dim, 1) / EXPORT_MACS_PER_SECOND
    else:
        per_query = EXPORT_QUERY_SECONDS_AT_420K * (products / 420_000) ** 0.5
        seconds = products * EXPORT_INDEX_SECONDS_PER_PRODUCT + queries * per_query
    seconds += rows * EXPORT_SECONDS_PER_ROW[fmt]
    # The catalog, the vectors, one block of scores, the table and its file.
    peak = BASE_BYTES + products * (64 + 8 * max(dim, 1)) + 64 * MB
    peak += rows * EXPORT_MEMORY_PER_ROW + file_bytes
    return Estimate(f"the top-{k} file", peak, seconds)
