"""The sidebar shared by every page, and the view's state in the URL.

Pages read the current choice through :func:`dataset_settings` and :func:`run_spec`;
they never draw the sidebar themselves (``app.main`` does, once per rerun, before it runs
the page).

The URL holds what makes a view: the loaded dataset and its settings, the model and
every setting changed from the app's start values, and, written by the pickers in
``ui/runs.py`` and ``ui/load.py``, the watched run, the compared runs and the looked-up
product. A refresh starts a new session, which reads them back once (:func:`url_start`),
so a refresh or a shared link opens the same view. For example::

    /train?dataset=movielens&model=eges&model.epochs=14&run=42
    /neighbours?dataset=builtin&products=5000&runs=3,5&product=B000123

A link naming runs (``run``/``runs``) opens the dataset those runs were trained on.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from recsys_core.common import cache
from recsys_core.common.settings import SettingsError
from recsys_core.data import registry
from recsys_core.data.registry import DatasetSettings
from ui import executor, forms
from ui.fmt import dataset_caption

DEFAULT_PRODUCTS_ENV = "RECSYS_DEFAULT_PRODUCTS"
DEFAULT_MODEL_ENV = "RECSYS_DEFAULT_MODEL"
DEFAULT_MODEL = "sgns"
DEFAULT_MAP_ENV = "RECSYS_DEFAULT_MAP_METHOD"

CHOICES = {
    "builtin": "Built-in catalog",
    "electronics": "Built-in, electronics size (~420k products)",
    "books": "Built-in, books size (~2M products)",
    "movielens": "MovieLens-100k",
    "amazon": "Amazon metadata file",
    "own-file": "Your file: interaction log or item pairs",
}
# Quicker first-run settings than the method's 5 epochs, and denser live AUC points, so a
# first click on Train draws curves within a minute. Applied only where the model has them.
QUICK_DEFAULTS: dict[str, Any] = {"epochs": 2, "eval_every": 250}

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


def default_map_method() -> str:
    """UMAP unless ``$RECSYS_DEFAULT_MAP_METHOD`` says "pca" (quick tests and demos)."""
    return "pca" if os.environ.get(DEFAULT_MAP_ENV, "").lower() == "pca" else "umap"


# -- the URL ---------------------------------------------------------------------------------


def url_start() -> dict[str, str]:
    """The query parameters this session was opened with, read on its first run.

    Widgets take their start values from here; later runs write the URL, never read it
    (Streamlit drops the query string when the page list switches pages).
    """
    if "url.start" not in st.session_state:
        st.session_state["url.start"] = {k: st.query_params[k] for k in st.query_params}
    return st.session_state["url.start"]


def url_update(values: Mapping[str, str | None], prefix: str = "") -> None:
    """Write ``values`` into the URL; None removes a key.

    With ``prefix``, keys starting with it that ``values`` does not name are removed too
    (settings back at their start values). Unchanged keys are not sent again.
    """
    if prefix:
        for key in [k for k in st.query_params if k.startswith(prefix) and k not in values]:
            del st.query_params[key]
    for key, value in values.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value
    # What this session shows now, for pickers drawn later on other pages.
    st.session_state.setdefault("url.now", {}).update(values)


def url_value(key: str) -> str | None:
    """What this session last wrote for ``key``, else what the URL opened with."""
    now = st.session_state.get("url.now", {})
    if key in now:
        return now[key]
    return url_start().get(key)


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


def _linked_run_spec(params: Mapping[str, str]) -> Any:
    """The RunSpec of the run the URL names (``run``, else the first of ``runs``), or None."""
    text = params.get("run") or (params.get("runs") or "").split(",")[0]
    if not text.strip().isdigit():
        return None
    from ui import runs

    try:
        return runs.jobs().get_run(int(text)).run_spec()
    except Exception:  # no such run, or a spec this code cannot read: the URL decides
        return None


def _linked_run_dataset(params: Mapping[str, str]) -> DatasetSettings | None:
    """The dataset of the run the URL names, or None."""
    spec = _linked_run_spec(params)
    return spec.dataset if spec is not None else None


def _initial_dataset() -> DatasetSettings:
    params = url_start()
    try:
        settings = _linked_run_dataset(params) or dataset_from_url(params)
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


def run_spec() -> Any:
    """The RunSpec for the sidebar's model and dataset, or None when a setting is bad.

    Draws the model section first if this run has not drawn it yet (see :func:`sidebar`).
    """
    draw_model_picker()
    return st.session_state.get("run_spec")


# -- dataset picker -----------------------------------------------------------------------


def choice_of(settings: DatasetSettings) -> str:
    """The picker's choice ("builtin", "movielens", ...) for ``settings``."""
    if settings.source == "synthetic":
        return "builtin" if settings.preset == "default" else settings.preset
    return "own-file" if settings.source in ("interactions", "pairs") else settings.source


def _synthetic_knobs(preset: str) -> DatasetSettings:
    from recsys_core.data.synthetic import PRESETS, SyntheticSettings

    base = PRESETS[preset]
    loaded = dataset_settings()
    if loaded.source == "synthetic" and loaded.preset == preset:
        start = loaded.synthetic_settings()
    else:
        env_products = os.environ.get(DEFAULT_PRODUCTS_ENV)
        start = base
        if preset == "default" and env_products:
            start = dataclasses.replace(base, products=int(env_products))
    helps = forms.field_help(SyntheticSettings)
    products = st.number_input(
        "products",
        min_value=200,
        max_value=20_000_000,
        value=int(start.products),
        step=1000,
        key=f"ds.{preset}.products",
        help=helps.get("products"),
    )
    coverage = st.slider(
        "metadata coverage",
        0.05,
        1.0,
        float(start.meta_coverage),
        0.01,
        key=f"ds.{preset}.coverage",
        help=helps.get("meta_coverage"),
    )
    signal = st.slider(
        "side signal",
        0.0,
        1.0,
        float(start.side_signal),
        0.05,
        key=f"ds.{preset}.signal",
        help=helps.get("side_signal"),
    )
    seed = st.number_input(
        "seed", min_value=0, value=int(start.seed), key=f"ds.{preset}.seed", help=helps.get("seed")
    )

    def override(value: Any, default: Any) -> Any:
        return None if value == default else value

    return DatasetSettings(
        source="synthetic",
        preset=preset,
        products=override(int(products), base.products),
        meta_coverage=override(float(coverage), base.meta_coverage),
        side_signal=override(float(signal), base.side_signal),
        seed=override(int(seed), base.seed),
    )


def _saved_upload(upload: Any) -> Path:
    """Write an uploaded file into the cache folder once; return its path."""
    folder = cache.cache_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(upload.name).name
    data = upload.getvalue()
    if not target.exists() or target.stat().st_size != len(data):
        with cache.atomic_path(target) as tmp:
            tmp.write_bytes(data)
    return target


def check_dataset(settings: DatasetSettings) -> str:
    """A user-facing problem with ``settings`` (missing file, wrong format), or ""."""
    return registry.source_problem(settings)


def dataset_picker() -> None:
    """Draw the dataset section; "Load" applies the choice to every page."""
    st.subheader("Dataset")
    loaded = dataset_settings()
    choice = st.selectbox(
        "source",
        list(CHOICES),
        index=list(CHOICES).index(choice_of(loaded)),
        format_func=CHOICES.get,
        key="ds.choice",
        help=(
            "The built-in catalog is generated like Amazon metadata (same file format, "
            "same preparation); the larger presets match the real electronics and books sizes."
        ),
    )
    candidate: DatasetSettings | None = None
    error = ""
    try:
        if choice in ("builtin", "electronics", "books"):
            preset = "default" if choice == "builtin" else choice
            if preset != "default":
                st.warning(
                    "This size takes minutes to build the first time (cached afterwards) "
                    "and a few GB of memory."
                )
            candidate = _synthetic_knobs(preset)
        elif choice == "movielens":
            from ui.fetch import fetch_movielens_button

            fetched = registry.fetched_movielens()
            if fetched is None and loaded.source != "movielens" and fetch_movielens_button():
                fetched = registry.fetched_movielens()
            if fetched is not None:
                st.caption(f"Found in {fetched}")
            if not st.session_state.get("ds.ml.folder"):  # also right after a fetch
                start = loaded.path if loaded.source == "movielens" else str(fetched or "")
                st.session_state["ds.ml.folder"] = start or ""
            folder = st.text_input("folder", key="ds.ml.folder")
            candidate = DatasetSettings(source="movielens", path=folder.strip() or None)
        elif choice == "own-file":
            from ui.interaction_upload import draw_own_file_source

            candidate = draw_own_file_source(loaded)
        else:
            path = st.text_input(
                "path of the metadata file",
                value=(loaded.path or "") if loaded.source == "amazon" else "",
                key="ds.amazon.path",
                placeholder="/data/meta_Electronics.json.gz",
                help="2014 release (Python-literal lines) or 2018 release (JSON lines), "
                ".json or .json.gz",
            )
            upload = st.file_uploader("or upload it", type=["json", "gz"], key="ds.amazon.upload")
            if upload is not None:
                path = str(_saved_upload(upload))
            candidate = DatasetSettings(source="amazon", path=path.strip() or None)
    except SettingsError as exc:
        error = str(exc)
    if st.button("Load dataset", key="ds.load", type="primary", width="stretch"):
        if candidate is not None and not error:
            error = check_dataset(candidate)
        if not error and candidate is not None:
            st.session_state["dataset_settings"] = candidate
            st.session_state.pop("ds.error", None)
        else:
            st.session_state["ds.error"] = error
    if st.session_state.get("ds.error"):
        st.error(st.session_state["ds.error"])
    st.caption(f"Loaded: {dataset_caption(dataset_settings())}")
    url_update(dataset_url(dataset_settings()))


# -- model picker ----------------------------------------------------------------------------


def _parse(text: str, like: Any) -> Any:
    """``text`` from the URL as the type of ``like`` (a setting's start value)."""
    if isinstance(like, bool):
        return text.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(like, int):
        return int(float(text))
    if isinstance(like, float):
        return float(text)
    return text


def _scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str))


def _url_settings(prefix: str, start: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Settings the URL opened with under ``prefix`` ("model."), parsed; and bad keys."""
    values, bad = {}, []
    for key, text in url_start().items():
        name = key[len(prefix) :] if key.startswith(prefix) else None
        if name is None:
            continue
        if name not in start or not _scalar(start[name]):
            bad.append(key)
            continue
        try:
            values[name] = _parse(text, start[name])
        except ValueError:
            bad.append(key)
    return values, bad


def _changed(start: dict[str, Any], values: dict[str, Any], prefix: str) -> dict[str, str]:
    """URL keys for the scalar settings in ``values`` that differ from ``start``."""
    return {
        f"{prefix}{k}": str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in values.items()
        if _scalar(start.get(k)) and v != start[k]
    }


def _write_model_url(url: dict[str, str]) -> None:
    """The model's URL keys; kept, so the next run writes them before the page draws."""
    st.session_state["url.model"] = url
    url_update({k: v for k, v in url.items() if not k.startswith("walks.")}, prefix="model.")
    url_update({k: v for k, v in url.items() if k.startswith("walks.")}, prefix="walks.")


def model_picker() -> None:
    """Draw the model section; stores the validated RunSpec (or the error) in state."""
    from recsys_core.models.registry import model_classes
    from recsys_core.pipeline import RunSpec
    from recsys_core.walks import WalkSettings

    st.subheader("Model")
    classes = model_classes()
    names = list(classes)
    linked_run = _linked_run_spec(url_start())
    wanted = (
        url_start().get("model")
        or (linked_run.model if linked_run is not None else None)
        or os.environ.get(DEFAULT_MODEL_ENV, DEFAULT_MODEL)
    )
    default = names.index(wanted) if wanted in names else 0
    name = st.selectbox(
        "model",
        names,
        index=default,
        key="model.name",
        format_func=lambda n: f"{n} · {classes[n].label}",
        help="Embedding models train on random walks; MF on pairs trains on product pairs.",
    )
    cls = classes[name]
    fields = {f.name: f.default for f in dataclasses.fields(cls.settings_cls)}
    # The app's start values: the class defaults with the quicker first-run settings.
    start = {**fields, **{k: v for k, v in QUICK_DEFAULTS.items() if k in fields}}
    linked, bad = _url_settings("model.", start) if name == wanted else ({}, [])
    if linked_run is not None and name == linked_run.model and "model" not in url_start():
        # A bare link to a run (``/train?run=42``) opens its model with its settings.
        linked = {**{k: v for k, v in linked_run.model_params if _scalar(v)}, **linked}
    with st.expander("model settings"):
        params = forms.settings_widgets(
            cls.settings_cls, f"model.{name}", defaults={**start, **linked}
        )
    url = {"model": name, **_changed(start, {**fields, **params}, "model.")}
    walks = None
    if cls.uses_walks:
        walk_start = {
            **{f.name: f.default for f in dataclasses.fields(WalkSettings)},
            "p": cls.walk_p,
            "q": cls.walk_q,
        }
        walk_linked, walk_bad = _url_settings("walks.", walk_start) if name == wanted else ({}, [])
        bad += walk_bad
        with st.expander("walk settings"):
            walk_values = forms.settings_widgets(
                WalkSettings, f"walks.{name}", defaults={**walk_start, **walk_linked}
            )
        url.update(_changed(walk_start, {**walk_start, **walk_values}, "walks."))
        walks, problem = forms.build_settings(
            WalkSettings, {"p": cls.walk_p, "q": cls.walk_q, **walk_values}
        )
        if problem:
            st.session_state["run_spec"] = None
            st.error(f"Walk settings: {problem}")
            return
    with st.expander("evaluation settings"):
        split, evaluation = forms.evaluation_widgets()
    if bad:
        st.caption("Settings in the link this model does not have, left out: " + ", ".join(bad))
    _write_model_url(url)
    # ``params`` holds every value that differs from the class default, the quick
    # defaults included (they start the widgets), so the spec is explicit about them.
    try:
        spec = RunSpec.create(
            name,
            dataset=dataset_settings(),
            model_params=params,
            walks=walks,
            split=split,
            evaluation=evaluation,
        )
    except (SettingsError, ValueError) as exc:
        st.session_state["run_spec"] = None
        st.error(f"Model settings: {exc}")
        return
    st.session_state["run_spec"] = spec


# The sidebar's places filled after the page has run (a thread runs one session's script
# at a time).
_later = threading.local()


def sidebar(show_runs: bool = True) -> None:
    """The whole sidebar: dataset, model, and (``show_runs``) what runs anywhere, with Cancel.

    Two sections are drawn into their places later: the model section when a page first
    asks for :func:`run_spec`, or after the page, because listing the models imports the
    model stack, which a page that needs no model (Data, Graph...) should not wait for
    before it paints; and the runs, after the page, so a run the page has just started
    shows up with its Cancel button at once. The Train page shows the runs in its body.
    """
    url_start()  # read the URL before anything writes to it
    if "url.model" in st.session_state:
        # The model section draws late; the URL holds the model from the start of the run
        # (a page switch clears the query string).
        _write_model_url(st.session_state["url.model"])
    with st.sidebar:
        dataset_picker()
        st.divider()
        _later.model = st.container()
        executor.section()
        _later.runs = st.container() if show_runs else None


def draw_model_picker() -> None:
    """Draw the model section into its sidebar place, once per script run."""
    box = getattr(_later, "model", None)
    if box is None:
        return
    _later.model = None
    with box:
        model_picker()


def finish_sidebar() -> None:
    """After the page: the model section if no page asked for it, and the runs."""
    from ui import runs

    draw_model_picker()
    box = getattr(_later, "runs", None)
    _later.runs = None
    if box is not None:
        with box:
            runs.running_anywhere(sidebar=True)
