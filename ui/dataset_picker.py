"""The sidebar's dataset section: a source, its knobs or path, and "Load dataset"."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import streamlit as st

from recsys_core.common.settings import SettingsError
from recsys_core.data import registry
from recsys_core.data.registry import DatasetSettings
from ui import forms, jobgate, operator
from ui.datasets import (
    CHOICES,
    DEFAULT_PRODUCTS_ENV,
    allow_build,
    build_estimate,
    check_dataset,
    choice_of,
    dataset_settings,
    dataset_url,
    is_built,
    saved_upload,
    shown_path,
)
from ui.fmt import dataset_caption
from ui.url import url_update


def draw_synthetic_knobs(preset: str) -> DatasetSettings:
    """Draw the built-in catalog's knobs; return the settings they name."""
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
    cap = operator.settings().max_products
    products = st.number_input(
        "products",
        min_value=200,
        max_value=cap,
        value=min(int(start.products), cap),
        step=1000,
        key=f"ds.{preset}.products",
        help=(helps.get("products") or "")
        + f" This server builds at most {cap:,} (its RECSYS_MAX_PRODUCTS).",
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


def draw_dataset_picker() -> None:
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
    uploaded = ("", "")  # (where an upload is kept, how the user knows it)
    try:
        if choice in ("builtin", "electronics", "books"):
            preset = "default" if choice == "builtin" else choice
            if preset != "default":
                st.warning(
                    "This size takes minutes to build the first time (cached afterwards) "
                    "and a few GB of memory."
                )
            candidate = draw_synthetic_knobs(preset)
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
                path = str(saved_upload(upload))
                uploaded = (path, shown_path(path))
            candidate = DatasetSettings(source="amazon", path=path.strip() or None)
    except SettingsError as exc:
        error = str(exc)
    clicked = st.button("Load dataset", key="ds.load", type="primary", width="stretch")
    if candidate is not None and not error and candidate != loaded:
        # Only what Load would build: nothing about a path is read before it is checked.
        if not check_dataset(candidate) and not is_built(candidate):
            st.caption(f"Building it: estimated {build_estimate(candidate).describe()}.")
    if clicked:
        if candidate is not None and not error:
            error = check_dataset(candidate)
        if not error and candidate is not None:
            error = jobgate.memory_problem(build_estimate(candidate))
        if not error and candidate is not None:
            allow_build(candidate)
            st.session_state["dataset_settings"] = candidate
            st.session_state.pop("ds.error", None)
        else:
            # Messages name the upload as the user knows it, not where the server keeps it.
            st.session_state["ds.error"] = (
                error.replace(uploaded[0], uploaded[1]) if uploaded[0] else error
            )
    if st.session_state.get("ds.error"):
        st.error(st.session_state["ds.error"])
    st.caption(f"Loaded: {dataset_caption(dataset_settings())}")
    url_update(dataset_url(dataset_settings()))
