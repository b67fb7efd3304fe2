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

SOURCES = ("synthetic", "amazon", "movielens", "interactions", "pairs")
RULES = ("consecutive", "session")
COLUMN_ROLES = {
    "interactions": ("user", "item", "time", "weight", "session"),
    "pairs": ("a", "b", "weight", "relation"),
}
# Per-source versions beside the stage's CODE_VERSION, so a change to one loader does not
# rebuild every other dataset (a books catalog takes minutes). movielens 2: events kept
# for the time split; 1M told apart from 100k. synthetic 2: top-up links drawn in chunks
# (generator v3: the same catalogs below ~100k products, other ones above). synthetic 3:
# catalogs of 5M target pairs or more (books) drawn in compiled code (generator v4; the
# same catalogs below, electronics included).
SOURCE_VERSIONS = {"movielens": 2, "synthetic": 3}
# Fields added after artifacts were first cached: at their defaults they stay out of the
# key, so every dataset cached before keeps its key.
_LATER_FIELDS = {
    "columns": (),
    "rule": "consecutive",
    "window": 5,
    "session_gap": 1800.0,
    "item_meta": None,
}
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
        Amazon metadata file (.json / .json.gz, 2014 or 2018 release), MovieLens folder,
        interaction log or pair file (CSV, TSV or Parquet).
    columns:
        Interaction logs and pair files: (role, column name) pairs; roles ``user``,
        ``item``, ``time``, ``weight``, ``session`` (logs) or ``a``, ``b``, ``weight``,
        ``relation`` (pair files). Roles not named are guessed from common names.
    rule:
        Interaction logs: "consecutive" (consecutive items in each user's time-ordered
        history) or "session" (co-occurrence within ``window`` steps in a session).
    window, session_gap:
        The session rule: items up to ``window`` steps apart pair up; without a session
        column a user's session ends after ``session_gap`` seconds without interaction.
    item_meta:
        Interaction logs and pair files: optional item metadata table (id, title,
        categorical and numeric fields), the side information.
    """

    source: str = "synthetic"
    preset: str = "default"
    products: int | None = None
    meta_coverage: float | None = None
    side_signal: float | None = None
    seed: int | None = None
    path: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    rule: str = "consecutive"
    window: int = 5
    session_gap: float = 1800.0
    item_meta: str | None = None

    def __post_init__(self) -> None:
        # A spec read back from JSON holds lists (or a dict); the key needs one form.
        columns = self.columns
        if isinstance(columns, dict):
            columns = columns.items()
        object.__setattr__(
            self,
            "columns",
            tuple(sorted((str(r), str(c)) for r, c in columns if c not in (None, ""))),
        )
        super().__post_init__()

    def column_map(self) -> dict[str, str]:
        """Role -> column name, as the loaders take it."""
        return dict(self.columns)

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
                + {
                    "amazon": "an Amazon metadata file (.json or .json.gz)",
                    "movielens": "a MovieLens folder (100k or 1M, GroupLens or RecBole files)",
                    "interactions": "an interaction log (CSV, TSV or Parquet)",
                    "pairs": "a pair file (CSV, TSV or Parquet)",
                }[self.source],
            )
        roles = COLUMN_ROLES.get(self.source, ())
        unknown = [r for r, _ in self.columns if r not in roles]
        require(
            not unknown,
            f"unknown column role {', '.join(unknown)} for a {self.source} dataset"
            + (f"; its roles are {', '.join(roles)}" if roles else ""),
        )
        require(self.rule in RULES, f"rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        require(1 <= self.window <= 100, f"window must be 1 to 100 steps, got {self.window}")
        require(self.session_gap > 0, f"session_gap must be above 0 s, got {self.session_gap}")

    def key(self, *input_keys: str) -> str:
        # A file's identity is its path, size and modification time: hashing the bytes
        # of a multi-GB file at every start would cost more than loading it.
        fields: dict[str, Any] = {
            name: value
            for name, value in self.as_dict().items()
            if name not in _LATER_FIELDS or value != _LATER_FIELDS[name]
        }
        if self.source in SOURCE_VERSIONS:
            fields["source_version"] = SOURCE_VERSIONS[self.source]
        for label, given in (("file", self.path), ("item_meta_file", self.item_meta)):
            path = Path(given).expanduser() if given else None
            if path is not None and path.exists():
                stat = path.stat()
                fields[label] = [str(path.resolve()), stat.st_size, int(stat.st_mtime)]
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
        if self.source == "interactions":
            rule = (
                "consecutive items per user"
                if self.rule == "consecutive"
                else f"items within {self.window} steps of a session"
            )
            meta = f", metadata {self.item_meta}" if self.item_meta else ""
            return f"interactions: {self.path} (pairs: {rule}{meta})"
        if self.source == "pairs" and self.item_meta:
            return f"pairs: {self.path} (metadata {self.item_meta})"
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
        if settings.source in ("interactions", "pairs"):
            from recsys_core.data.tables import preview

            for given in (settings.path, settings.item_meta):
                file = Path(given).expanduser() if given else None
                if file is not None and not file.is_file():
                    return f"No file at {file}. Give the full path of a CSV, TSV or Parquet file."
                if file is not None:
                    preview(file, rows=2)  # not a table: one sentence, before a load starts
        elif settings.source == "amazon":
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
    """The folder ``python -m recsys_core fetch movielens-100k`` filled, else the one
    ``fetch movielens-1m`` filled, or None."""
    from recsys_core.data.fetch import default_movielens_dir, fetched_dir, movielens_available

    if movielens_available():
        return default_movielens_dir()
    folder = fetched_dir("movielens-1m")
    return folder if movielens_available(folder) else None


# One set of dataset names for every subcommand and study. "<source>:PATH" names a file.
NAMED = ("synthetic", "electronics", "books", "movielens-100k", "movielens-1m")
PATH_SOURCES = ("amazon", "movielens", "interactions", "pairs")
# Older names, still accepted: the first spelled the built-in catalog in studies and the
# app, the second the fetched MovieLens copy when there was only one.
ALIASES = {"builtin": "synthetic", "movielens": "movielens-100k"}


def canonical_name(name: str) -> tuple[str, str]:
    """``(name, note)``: the current spelling of a dataset name, and a note when an older
    spelling was given ("" otherwise)."""
    name = name.strip()
    if name in ALIASES:
        new = ALIASES[name]
        return new, f"dataset name {name!r} is now {new!r} (the old name still works)"
    return name, ""


def settings_for_name(name: str, products: int | None = None) -> DatasetSettings:
    """The settings a dataset name stands for: ``synthetic`` / ``electronics`` / ``books``
    (the built-in catalog's presets, ``products`` overriding the size), ``movielens-100k``
    / ``movielens-1m`` (the fetched copies), or ``SOURCE:PATH`` for a file or folder.

    Raises
    ------
    FileNotFoundError
        A MovieLens copy that has not been fetched (the message gives the command).
    ValueError
        An unknown name (the message lists the known ones).
    """
    name, _ = canonical_name(name)
    if name in SYNTHETIC_PRESETS or name == "synthetic":
        preset = "default" if name == "synthetic" else name
        return DatasetSettings(preset=preset, products=int(products) if products else None)
    if name.startswith("movielens-") and ":" not in name:
        from recsys_core.data.fetch import DATASETS, fetched_dir, movielens_available

        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(NAMED)}")
        if not movielens_available(fetched_dir(name)):
            raise FileNotFoundError(
                f"{DATASETS[name].title} is not fetched; run `python -m recsys_core fetch "
                f"{name}` first"
            )
        return DatasetSettings(source="movielens", path=str(fetched_dir(name)))
    source, _, path = name.partition(":")
    if source in PATH_SOURCES and path:
        return DatasetSettings(source=source, path=path)
    raise ValueError(
        f"unknown dataset {name!r}: use one of {', '.join(NAMED)}, or "
        + ", ".join(f"{s}:PATH" for s in PATH_SOURCES)
    )


def build_dataset(settings: DatasetSettings, on_progress: Progress | None = None) -> Dataset:
    """Load the dataset from its source, without the cache."""
    if settings.source == "synthetic":
        from recsys_core.data.synthetic import load_synthetic

        return load_synthetic(settings.synthetic_settings(), on_progress=on_progress)
    path = Path(os.path.expanduser(settings.path or ""))
    if settings.source == "interactions":
        from recsys_core.data.interactions import load_interactions

        return load_interactions(
            path,
            settings.column_map(),
            rule=settings.rule,
            window=settings.window,
            session_gap=settings.session_gap,
            item_meta=settings.item_meta,
            on_progress=on_progress,
        )
    if settings.source == "pairs":
        from recsys_core.data.pairfile import load_pair_file

        return load_pair_file(
            path, settings.column_map(), item_meta=settings.item_meta, on_progress=on_progress
        )
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
                "name": "synthetic" if name == "default" else name,
                "status": "built in",
                "description": f"generated Amazon-like catalog, {s.products:,} products "
                f"(metadata {s.meta_coverage:.0%})",
                "options": "--dataset " + ("synthetic" if name == "default" else name),
            }
        )
    from recsys_core.data.fetch import DATASETS, fetched_dir, movielens_available

    for name, data in DATASETS.items():
        ok = movielens_available(fetched_dir(name))
        rows.append(
            {
                "name": name,
                "status": "fetched" if ok else f"not fetched: python -m recsys_core fetch {name}",
                "description": f"{data.title} ratings; pairs = consecutive items per user",
                "options": f"--dataset {name}  (or --movielens {fetched_dir(name)})",
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
    rows.append(
        {
            "name": "interactions",
            "status": "your file",
            "description": "interaction log, CSV/TSV/Parquet: user, item, time, optional "
            "weight; pairs = consecutive items per user, or items close in one session",
            "options": "--interactions PATH [--user-col U --item-col I --time-col T "
            "--weight-col W --rule consecutive|session --item-meta PATH]",
        }
    )
    rows.append(
        {
            "name": "pairs",
            "status": "your file",
            "description": "item pairs, CSV/TSV/Parquet: item_a, item_b, optional weight "
            "and relation",
            "options": "--pairs PATH [--a-col A --b-col B --item-meta PATH]",
        }
    )
    return rows
