"""Which datasets exist and how to load any of them, cached, from one settings object."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from recsys_core.common import cache
from recsys_core.common.progress import Progress
from recsys_core.common.settings import Settings, require, stable_hash
from recsys_core.data.dataset import Dataset

SOURCES = ("synthetic", "amazon", "movielens")
SYNTHETIC_PRESETS = ("default", "electronics", "books")


@dataclasses.dataclass(frozen=True)
class DatasetSettings(Settings):
    """Which dataset to load.

    Parameters
    ----------
    source:
        "synthetic" (the built-in catalog), "amazon" (a metadata file) or "movielens".
    preset:
        Synthetic size preset: "default" (~20k products), "electronics" (~420k),
        "books" (~2M).
    products, meta_coverage, side_signal, seed:
        Overrides of the synthetic preset; None keeps the preset's value.
    path:
        Amazon metadata file (.json / .json.gz, 2014 or 2018 release) or MovieLens folder.
    """

    source: str = "synthetic"
    preset: str = "default"
    products: int | None = None
    meta_coverage: float | None = None
    side_signal: float | None = None
    seed: int | None = None
    path: str | None = None

    def validate(self) -> None:
        require(
            self.source in SOURCES,
            f"unknown dataset source {self.source!r}; choose one of {', '.join(SOURCES)}",
        )
        if self.source == "synthetic":
            require(
                self.preset in SYNTHETIC_PRESETS,
                f"unknown preset {self.preset!r}; choose one of {', '.join(SYNTHETIC_PRESETS)}",
            )
            require(
                self.products is None or self.products >= 200,
                f"products must be at least 200, got {self.products}",
            )
            require(
                self.meta_coverage is None or 0.0 < self.meta_coverage <= 1.0,
                f"meta_coverage must be in (0, 1], got {self.meta_coverage}",
            )
            require(
                self.side_signal is None or 0.0 <= self.side_signal <= 1.0,
                f"side_signal must be in [0, 1], got {self.side_signal}",
            )
        else:
            require(
                bool(self.path),
                f"the {self.source} dataset needs a path: "
                + (
                    "an Amazon metadata file (.json or .json.gz)"
                    if self.source == "amazon"
                    else "a folder with u.data and u.item, or ml-100k.inter and ml-100k.item"
                ),
            )

    def key(self, *input_keys: str) -> str:
        # A file's identity is its path, size and modification time: hashing the bytes
        # of a multi-GB file at every start would cost more than loading it.
        fields: dict[str, Any] = self.as_dict()
        if self.path:
            path = Path(self.path).expanduser()
            if path.exists():
                stat = path.stat()
                fields["file"] = [str(path.resolve()), stat.st_size, int(stat.st_mtime)]
        return stable_hash(
            {
                "stage": "dataset",
                "code_version": self.code_version(),
                "fields": fields,
                "inputs": list(input_keys),
            }
        )

    def synthetic_settings(self) -> Any:
        from recsys_core.data.synthetic import PRESETS

        base = PRESETS[self.preset]
        overrides = {
            name: value
            for name, value in (
                ("products", self.products),
                ("meta_coverage", self.meta_coverage),
                ("side_signal", self.side_signal),
                ("seed", self.seed),
            )
            if value is not None
        }
        return dataclasses.replace(base, **overrides)

    def describe(self) -> str:
        if self.source == "synthetic":
            s = self.synthetic_settings()
            return (
                f"built-in synthetic catalog ({self.preset}: {s.products:,} products, "
                f"metadata {s.meta_coverage:.0%}, side signal {s.side_signal}, seed {s.seed})"
            )
        return f"{self.source}: {self.path}"


def source_problem(settings: DatasetSettings) -> str:
    """What is wrong with the file or folder ``settings`` points to, in one sentence, or "".

    Checks only what is cheap (the path exists, the first lines look like the format), so
    a picker can say "no file at ..." before a load starts.
    """
    if settings.source == "synthetic":
        return ""
    path = Path(settings.path or "").expanduser()
    try:
        if settings.source == "amazon":
            from recsys_core.data.amazon import file_kind

            if not path.exists():
                return f"No file at {path}. Give the full path of an Amazon metadata file."
            if path.is_dir():
                return f"{path} is a folder; give the metadata file itself (.json or .json.gz)."
            file_kind(path)
        else:
            from recsys_core.data.movielens import find_movielens

            find_movielens(path)
    except (ValueError, OSError) as exc:
        return str(exc)
    return ""


def fetched_movielens() -> Path | None:
    """The folder ``python -m recsys_core fetch movielens-100k`` filled, or None."""
    from recsys_core.data.fetch import default_movielens_dir, movielens_available

    return default_movielens_dir() if movielens_available() else None


def build_dataset(settings: DatasetSettings, on_progress: Progress | None = None) -> Dataset:
    """Load the dataset from its source, without the cache."""
    if settings.source == "synthetic":
        from recsys_core.data.synthetic import load_synthetic

        return load_synthetic(settings.synthetic_settings(), on_progress=on_progress)
    path = Path(os.path.expanduser(settings.path or ""))
    if settings.source == "amazon":
        from recsys_core.data.amazon import load_amazon

        return load_amazon(path, on_progress=on_progress)
    from recsys_core.data.movielens import load_movielens

    return load_movielens(path, on_progress=on_progress)


def load_dataset(
    settings: DatasetSettings, on_progress: Progress | None = None
) -> tuple[Dataset, bool]:
    """The dataset for ``settings``, from the artifact cache when it was built before.

    Returns ``(dataset, cache_hit)``.
    """
    return cache.cached(
        "dataset",
        settings.key(),
        build=lambda: build_dataset(settings, on_progress),
        save=lambda folder, ds: ds.save(folder),
        load=Dataset.load,
        on_progress=on_progress,
    )


def available_datasets() -> list[dict[str, str]]:
    """What can be loaded here, for ``datasets`` in the CLI and the app's picker."""
    from recsys_core.data.synthetic import PRESETS

    rows = []
    for name in SYNTHETIC_PRESETS:
        s = PRESETS[name]
        rows.append(
            {
                "name": f"synthetic:{name}",
                "status": "built in",
                "description": f"generated Amazon-like catalog, {s.products:,} products "
                f"(metadata {s.meta_coverage:.0%})",
                "options": f"--dataset synthetic --preset {name}",
            }
        )
    try:
        from recsys_core.data.fetch import default_movielens_dir, movielens_available

        ml_ok = movielens_available()
        ml_dir = str(default_movielens_dir())
    except ImportError:  # pragma: no cover - while the module is absent
        ml_ok, ml_dir = False, "?"
    rows.append(
        {
            "name": "movielens-100k",
            "status": "fetched"
            if ml_ok
            else "not fetched: python -m recsys_core fetch movielens-100k",
            "description": "MovieLens 100k ratings; pairs = consecutive items per user",
            "options": f"--movielens {ml_dir}",
        }
    )
    rows.append(
        {
            "name": "amazon",
            "status": "your file",
            "description": "Amazon product metadata, 2014 (literal) or 2018 (JSON) lines, .gz ok",
            "options": "--amazon PATH",
        }
    )
    return rows
