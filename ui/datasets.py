"""Dataset policy: which dataset the pages work on, how a link names one, and uploads.

Pages read the current choice through :func:`dataset_settings`. A link naming runs
(``run``/``runs``) opens the dataset those runs were trained on; else the URL's
``dataset`` and its knobs (see ``ui/url.py``); else the built-in catalog.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from recsys_core.common import cache
from recsys_core.common.settings import SettingsError
from recsys_core.data import registry
from recsys_core.data.registry import DatasetSettings
from recsys_core.jobs import estimate
from ui import operator, runspec
from ui.url import url_start

DEFAULT_PRODUCTS_ENV = "RECSYS_DEFAULT_PRODUCTS"

CHOICES = {
    "builtin": "Built-in catalog",
    "electronics": "Built-in, electronics size (~420k products)",
    "books": "Built-in, books size (~2M products)",
    "movielens": "MovieLens-100k",
    "amazon": "Amazon metadata file",
    "own-file": "Your file: interaction log or item pairs",
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
    elif settings.source not in ("interactions", "pairs"):  # uploads stay out of links
        out["dataset"] = settings.source
        out["path"] = settings.path
    return out


def dataset_from_url(params: Mapping[str, str]) -> DatasetSettings | None:
    """The dataset the URL names, or None when it names none.

    Raises SettingsError or ValueError with a readable message for a bad value.
    """
    choice = params.get("dataset")
    if not choice and any(params.get(key) for key in KNOBS):
        choice = "builtin"  # the catalog's knobs alone name the built-in catalog
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
        settings = DatasetSettings(source="synthetic", preset=preset, **values)
        problem = size_problem(settings)
        if problem:
            raise ValueError(problem)
        return settings
    if choice == "movielens":
        path = params.get("path") or str(registry.fetched_movielens() or "")
        return DatasetSettings(source="movielens", path=confined(path) if path else None)
    if choice == "amazon":
        path = params.get("path")
        return DatasetSettings(source="amazon", path=confined(path) if path else None)
    raise ValueError(f"unknown dataset {choice!r}; choose one of {', '.join(CHOICES)}")


def confined(text: str) -> str:
    """The real path of a file a visitor named, inside the readable folders.

    Raises ValueError with one sentence that says nothing about the path itself (whether
    it exists, what it holds) when it lies outside them.
    """
    path = operator.resolve_visitor_path(text)
    if path is None:
        raise ValueError(operator.outside_note(text))
    return str(path)


def size_problem(settings: DatasetSettings) -> str:
    """One sentence when a built-in catalog is larger than this server builds, else ""."""
    if settings.source != "synthetic":
        return ""
    products = settings.products
    if products is None:
        from recsys_core.data.synthetic import PRESETS

        products = PRESETS[settings.preset].products
    cap = operator.settings().max_products
    if products > cap:
        return (
            f"products={products} is more than this server builds ({cap:,}, its "
            "RECSYS_MAX_PRODUCTS): choose fewer products"
        )
    return ""


OPENED_INSTEAD = "; the built-in catalog is open instead."


def _initial_dataset() -> DatasetSettings:
    params = url_start()
    try:
        linked = runspec.linked_run_spec(params)
        settings = linked.dataset if linked is not None else dataset_from_url(params)
        problem = registry.source_problem(settings) if settings is not None else ""
    except (SettingsError, ValueError) as exc:
        problem = str(exc)
    if problem:
        st.session_state["ds.error"] = (
            f"The link's dataset could not be opened: {problem.rstrip('.')}{OPENED_INSTEAD}"
        )
        return default_dataset()
    return settings or default_dataset()


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
    return "own-file" if settings.source in ("interactions", "pairs") else settings.source


def check_dataset(settings: DatasetSettings) -> str:
    """A user-facing problem with ``settings`` (a file outside the data folder, missing
    file, wrong format, too many products), or ""."""
    if settings.source != "synthetic" and settings.path:
        if operator.resolve_visitor_path(settings.path) is None:
            return operator.outside_note(settings.path)
    return size_problem(settings) or registry.source_problem(settings)


def saved_upload(upload: Any, suffix: str | None = None) -> Path:
    """Write an uploaded file into the uploads folder, named by its content's hash.

    The same bytes give the same file (and the same dataset key); an edited file with the
    same name and size gives another one, so it is never mistaken for the old data.
    ``suffix`` keeps the kind of file its reader goes by (default: an Amazon metadata
    file's ``.json`` / ``.json.gz``).
    """
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:20]
    name = Path(upload.name).name
    if suffix is None:
        suffix = ".json.gz" if name.endswith(".gz") else ".json"
    folder = cache.cache_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}{suffix}"
    if not target.exists():
        with cache.atomic_path(target) as tmp:
            tmp.write_bytes(data)
    _upload_names()[target.name] = name
    return target


@st.cache_resource(show_spinner=False)
def _upload_names() -> dict[str, str]:
    """Stored upload (content hash) -> the name it was uploaded with, in this process."""
    return {}


def shown_path(path: str | None) -> str:
    """A dataset path as its user knows it: an upload by the name it was uploaded with."""
    if not path:
        return ""
    p = Path(path)
    if p.parent == cache.cache_root() / "uploads" or p.parent.name == "uploads":
        name = _upload_names().get(p.name)
        return f"the uploaded file {name}" if name else f"an uploaded file ({p.name})"
    return str(path)


def shown_error(message: str, settings: DatasetSettings) -> str:
    """``message`` with the dataset's stored path replaced by :func:`shown_path`."""
    if settings.path and str(settings.path) in message:
        return message.replace(str(settings.path), shown_path(settings.path))
    if settings.path and Path(settings.path).name in message:
        return message.replace(Path(settings.path).name, shown_path(settings.path))
    return message


def shown_dataset(settings: DatasetSettings) -> str:
    """``settings.describe()`` as its user knows it: an upload by the name it had, never
    the server's path of its stored copy."""
    return shown_error(settings.describe(), settings)


# -- building: a link opens a view, a click builds ---------------------------------------------


def is_built(settings: DatasetSettings) -> bool:
    """Whether the dataset's artifact is complete in the cache (loading it is quick)."""
    return (cache.artifact_dir("dataset", settings.key()) / cache.DONE_MARKER).exists()


def allow_build(settings: DatasetSettings) -> None:
    """Record this session's click to build ``settings`` (the picker's Load, a run's
    Switch): pages submit its build job without asking again."""
    st.session_state.setdefault("build.allowed", set()).add(settings.key())
    submitted = st.session_state.setdefault("build.submitted", set())
    submitted -= {s for s in submitted if s[0] == settings.key()}  # a new click, a new try


def wants_build(settings: DatasetSettings, build_key: str) -> bool:
    """Whether a page submits the build job ``build_key`` of ``settings`` without a
    button: it is the server's default catalog (the operator's choice) or this session
    clicked to load it, and this session has not submitted it since (a failed build is
    shown, never retried in a loop)."""
    clicked = settings.key() in st.session_state.get("build.allowed", set())
    submitted = (settings.key(), build_key) in st.session_state.get("build.submitted", set())
    return (settings == default_dataset() or clicked) and not submitted


def mark_submitted(settings: DatasetSettings, build_key: str) -> None:
    """This session submitted the build job ``build_key`` of ``settings``."""
    st.session_state.setdefault("build.submitted", set()).add((settings.key(), build_key))


def build_estimate(settings: DatasetSettings) -> estimate.Estimate:
    """What building ``settings`` (in a worker) will take."""
    return estimate.dataset_build(settings)
