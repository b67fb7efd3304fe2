"""The sidebar shared by every page: dataset picker and model picker, kept in session state.

Pages read the current choice through :func:`dataset_settings`, :func:`run_spec` and
:func:`prepared`; they never draw the sidebar themselves (the entry file does, once per
rerun, before routing to the page).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import streamlit as st

from recsys_core.common import cache
from recsys_core.common.settings import SettingsError
from recsys_core.data.registry import DatasetSettings
from ui import forms
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
}
# Quicker first-run settings than the method's 5 epochs, and denser live AUC points, so a
# first click on Train draws curves within a minute. Applied only where the model has them.
QUICK_DEFAULTS: dict[str, Any] = {"epochs": 2, "eval_every": 250}


def default_dataset() -> DatasetSettings:
    """The built-in catalog; ``$RECSYS_DEFAULT_PRODUCTS`` makes it smaller (tests, demos)."""
    products = os.environ.get(DEFAULT_PRODUCTS_ENV)
    return DatasetSettings(products=int(products) if products else None)


def default_map_method() -> str:
    """UMAP unless ``$RECSYS_DEFAULT_MAP_METHOD`` says "pca" (quick tests and demos)."""
    return "pca" if os.environ.get(DEFAULT_MAP_ENV, "").lower() == "pca" else "umap"


def dataset_settings() -> DatasetSettings:
    """The dataset the pages work on (the last one loaded from the sidebar)."""
    if "dataset_settings" not in st.session_state:
        st.session_state["dataset_settings"] = default_dataset()
    return st.session_state["dataset_settings"]


def run_spec() -> Any:
    """The RunSpec for the sidebar's model and dataset, or None when a setting is bad."""
    return st.session_state.get("run_spec")


# -- dataset picker -----------------------------------------------------------------------


def _synthetic_knobs(preset: str) -> DatasetSettings:
    from recsys_core.data.synthetic import PRESETS, SyntheticSettings

    base = PRESETS[preset]
    helps = forms.field_help(SyntheticSettings)
    env_products = os.environ.get(DEFAULT_PRODUCTS_ENV)
    start = int(env_products) if (preset == "default" and env_products) else base.products
    products = st.number_input(
        "products",
        min_value=200,
        max_value=20_000_000,
        value=start,
        step=1000,
        key=f"ds.{preset}.products",
        help=helps.get("products"),
    )
    coverage = st.slider(
        "metadata coverage",
        0.05,
        1.0,
        float(base.meta_coverage),
        0.01,
        key=f"ds.{preset}.coverage",
        help=helps.get("meta_coverage"),
    )
    signal = st.slider(
        "side signal",
        0.0,
        1.0,
        float(base.side_signal),
        0.05,
        key=f"ds.{preset}.signal",
        help=helps.get("side_signal"),
    )
    seed = st.number_input(
        "seed", min_value=0, value=int(base.seed), key=f"ds.{preset}.seed", help=helps.get("seed")
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
    if settings.source == "amazon":
        from recsys_core.data.amazon import file_kind

        path = Path(settings.path or "").expanduser()
        if not path.exists():
            return f"No file at {path}. Give the full path of an Amazon metadata file."
        if path.is_dir():
            return f"{path} is a folder; give the metadata file itself (.json or .json.gz)."
        try:
            file_kind(path)
        except (ValueError, OSError) as exc:
            return str(exc)
    if settings.source == "movielens":
        from recsys_core.data.movielens import find_movielens

        try:
            find_movielens(settings.path or "")
        except (ValueError, OSError) as exc:
            return str(exc)
    return ""


def dataset_picker() -> None:
    """Draw the dataset section; "Load" applies the choice to every page."""
    st.subheader("Dataset")
    choice = st.selectbox(
        "source",
        list(CHOICES),
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
            from recsys_core.data.fetch import default_movielens_dir, movielens_available
            from ui.fetch import fetch_movielens_button

            if movielens_available() or fetch_movielens_button():
                st.caption(f"Found in {default_movielens_dir()}")
                if not st.session_state.get("ds.ml.folder"):  # also right after a fetch
                    st.session_state["ds.ml.folder"] = str(default_movielens_dir())
            folder = st.text_input("folder", key="ds.ml.folder")
            candidate = DatasetSettings(source="movielens", path=folder.strip() or None)
        else:
            path = st.text_input(
                "path of the metadata file",
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


# -- model picker ----------------------------------------------------------------------------


def model_picker() -> None:
    """Draw the model section; stores the validated RunSpec (or the error) in state."""
    from recsys_core.models.registry import model_classes
    from recsys_core.pipeline import RunSpec
    from recsys_core.walks import WalkSettings

    st.subheader("Model")
    classes = model_classes()
    names = list(classes)
    wanted = os.environ.get(DEFAULT_MODEL_ENV, DEFAULT_MODEL)
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
    quick = {
        k: v
        for k, v in QUICK_DEFAULTS.items()
        if k in {f.name for f in dataclasses.fields(cls.settings_cls)}
    }
    with st.expander("model settings"):
        params = forms.settings_widgets(cls.settings_cls, f"model.{name}", defaults=quick)
    walks = None
    if cls.uses_walks:
        with st.expander("walk settings"):
            walk_values = forms.settings_widgets(
                WalkSettings, f"walks.{name}", defaults={"p": cls.walk_p, "q": cls.walk_q}
            )
        walks, problem = forms.build_settings(
            WalkSettings, {"p": cls.walk_p, "q": cls.walk_q, **walk_values}
        )
        if problem:
            st.session_state["run_spec"] = None
            st.error(f"Walk settings: {problem}")
            return
    with st.expander("evaluation settings"):
        split, evaluation = forms.evaluation_widgets()
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


def sidebar() -> None:
    """The whole sidebar."""
    with st.sidebar:
        dataset_picker()
        st.divider()
        model_picker()
