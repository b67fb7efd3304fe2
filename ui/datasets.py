"""Dataset policy: which dataset the pages work on, how a link names one, and uploads.

Pages read the current choice through :func:`dataset_settings`. A link naming runs
(``run``/``runs``) opens the dataset those runs were trained on; else the URL's
``dataset`` and its knobs (see ``ui/url.py``); else the built-in catalog.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from recsys_core.common import cache
from recsys_core.common.settings import SettingsError
from recsys_core.data import registry
from recsys_core.data.registry import DatasetSettings
from ui import runspec
from ui.url import url_start

DEFAULT_PRODUCTS_ENV = "RECSYS_DEFAULT_PRODUCTS"

CHOICES = {
    "builtin": "Built-in catalog",
    "electronics": "Built-in, electronics size (~420k products)",
    "books": "Built-in, books size (~2M products)",
    "movielens": "MovieLens-100k",
    "amazon": "Amazon metadata file",
}

# URL keys of the synthetic knobs -> DatasetSettings fields.
KNOBS = {
    "products": "products",
    "coverage": "meta_coverage",
    "signal": "side_signal",
    "seed": "seed",
}
DATASET_KEYS = ("dataset", *KNOBS, "path")


def default_dataset() -> DatasetSettings:
    """The built-in catalog; ``$RECSYS_DEFAULT_PRODUCTS`` makes it smaller (tests, demos)."""
    products = os.environ.get(DEFAULT_PRODUCTS_ENV)
    return DatasetSettings(products=int(products) if products else None)


def dataset_url_defaults() -> dict[str, Any]:
    """The default catalog's overrides (``$RECSYS_DEFAULT_PRODUCTS``), as settings fields."""
    d = default_dataset()
    return {f: getattr(d, f) for f in KNOBS.values() if getattr(d, f) is not None}


def dataset_url(settings: DatasetSettings) -> dict[str, str | None]:
    """The URL keys that name ``settings`` (the others None)."""
    out: dict[str, str | None] = dict.fromkeys(DATASET_KEYS)
    if settings.source == "synthetic":
        out["dataset"] = "builtin" if settings.preset == "default" else settings.preset
        for key, field in KNOBS.items():
            value = getattr(settings, field)
            out[key] = None if value is None else str(value)
    else:
        out["dataset"] = settings.source
        out["path"] = settings.path
    return out


def dataset_from_url(params: Mapping[str, str]) -> DatasetSettings | None:
    """The dataset the URL names, or None when it names none.

    Raises SettingsError or ValueError with a readable message for a bad value.
    """
    choice = params.get("dataset")
    if not choice:
        return None
    if choice in ("builtin", "electronics", "books"):
        kinds = {"products": int, "coverage": float, "signal": float, "seed": int}
        values: dict[str, Any] = {}
        for key, field in KNOBS.items():
            if params.get(key):
                try:
                    values[field] = kinds[key](params[key])
                except ValueError:
                    raise ValueError(f"{key}={params[key]!r} is not a number") from None
        preset = "default" if choice == "builtin" else choice
        if preset == "default":  # "builtin" alone is the app's default catalog
            values = {**dataset_url_defaults(), **values}
        return DatasetSettings(source="synthetic", preset=preset, **values)
    if choice == "movielens":
        path = params.get("path") or str(registry.fetched_movielens() or "")
        return DatasetSettings(source="movielens", path=path or None)
    if choice == "amazon":
        return DatasetSettings(source="amazon", path=params.get("path") or None)
    raise ValueError(f"unknown dataset {choice!r}; choose one of {', '.join(CHOICES)}")


def _initial_dataset() -> DatasetSettings:
    params = url_start()
    try:
        linked = runspec.linked_run_spec(params)
        settings = linked.dataset if linked is not None else dataset_from_url(params)
    except (SettingsError, ValueError) as exc:
        st.session_state["ds.error"] = f"The link's dataset could not be opened: {exc}"
        return default_dataset()
    if settings is None:
        return default_dataset()
    problem = registry.source_problem(settings)
    if problem:
        st.session_state["ds.error"] = f"The link's dataset could not be opened: {problem}"
        return default_dataset()
    return settings


def dataset_settings() -> DatasetSettings:
    """The dataset the pages work on: from the URL at first, then the last one loaded."""
    if "dataset_settings" not in st.session_state:
        st.session_state["dataset_settings"] = _initial_dataset()
    return st.session_state["dataset_settings"]


def switch_dataset(settings: DatasetSettings) -> None:
    """Load ``settings`` for every page, and redraw the dataset picker to match it."""
    st.session_state["dataset_settings"] = settings
    for key in [k for k in st.session_state if str(k).startswith("ds.")]:
        del st.session_state[key]


def choice_of(settings: DatasetSettings) -> str:
    """The picker's choice ("builtin", "movielens", ...) for ``settings``."""
    if settings.source == "synthetic":
        return "builtin" if settings.preset == "default" else settings.preset
    return settings.source


def check_dataset(settings: DatasetSettings) -> str:
    """A user-facing problem with ``settings`` (missing file, wrong format), or ""."""
    return registry.source_problem(settings)


def saved_upload(upload: Any) -> Path:
    """Write an uploaded file into the cache folder once; return its path."""
    folder = cache.cache_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(upload.name).name
    data = upload.getvalue()
    if not target.exists() or target.stat().st_size != len(data):
        with cache.atomic_path(target) as tmp:
            tmp.write_bytes(data)
    return target
