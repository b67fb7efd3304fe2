"""The sidebar's model section: a model, its settings, walk and evaluation settings.

It stores the validated RunSpec (or None after drawing the problem) in session state,
where :func:`ui.sidebar.drawn_run_spec` finds it.
"""

from __future__ import annotations

import streamlit as st

from recsys_core.common.settings import SettingsError
from ui import forms, runspec
from ui.datasets import dataset_settings
from ui.url import changed_keys, is_scalar, url_settings, url_start, url_update, url_view


def write_model_url(url: dict[str, str]) -> None:
    """The model's URL keys; kept, so the next run writes them before the page draws."""
    st.session_state["url.model"] = url
    url_update({k: v for k, v in url.items() if not k.startswith("walks.")}, prefix="model.")
    url_update({k: v for k, v in url.items() if k.startswith("walks.")}, prefix="walks.")


def draw_model_picker() -> None:
    """Draw the model section; stores the validated RunSpec (or None) in session state."""
    from recsys_core.models.registry import model_classes
    from recsys_core.walks import WalkSettings

    st.subheader("Model")
    classes = model_classes()
    names = list(classes)
    linked_run = runspec.linked_run_spec(url_start())
    view = url_view()  # what this session shows now: a pick follows it across pages
    wanted = (
        view.get("model")
        or (linked_run.model if linked_run is not None else None)
        or runspec.default_model()
    )
    if wanted not in names:
        fallback = runspec.default_model()
        fallback = fallback if fallback in names else names[0]
        if "model.name" not in st.session_state:  # said once, when the link opens
            st.warning(f"model={wanted} is not a model here; {fallback} is open instead.")
        wanted = fallback
    default = names.index(wanted)
    name = st.selectbox(
        "model",
        names,
        index=default,
        key="model.name",
        format_func=lambda n: f"{n} · {classes[n].label}",
        help="Embedding models train on random walks; MF on pairs trains on product pairs.",
    )
    cls = classes[name]
    fields, start = runspec.model_start(cls)
    linked, bad = url_settings("model.", start, view) if name == wanted else ({}, [])
    if linked_run is not None and name == linked_run.model and "model" not in url_start():
        # A bare link to a run (``/train?run=42``) opens its model with its settings.
        linked = {**{k: v for k, v in linked_run.model_params if is_scalar(v)}, **linked}
    with st.expander("model settings"):
        params = forms.settings_widgets(
            cls.settings_cls, f"model.{name}", defaults={**start, **linked}
        )
    url = {"model": name, **changed_keys(start, {**fields, **params}, "model.")}
    walks = None
    if cls.uses_walks:
        walk_start = runspec.walk_start(cls)
        walk_linked, walk_bad = (
            url_settings("walks.", walk_start, view) if name == wanted else ({}, [])
        )
        bad += walk_bad
        with st.expander("walk settings"):
            walk_values = forms.settings_widgets(
                WalkSettings, f"walks.{name}", defaults={**walk_start, **walk_linked}
            )
        url.update(changed_keys(walk_start, {**walk_start, **walk_values}, "walks."))
        walks, problem = forms.build_settings(
            WalkSettings, {"p": cls.walk_p, "q": cls.walk_q, **walk_values}
        )
        if problem:
            st.session_state["run_spec"] = None
            st.error(f"Walk settings: {problem}")
            return
    with st.expander("evaluation settings"):
        split, evaluation = forms.evaluation_widgets()
    if bad and f"model.{name}.shown" not in st.session_state:
        st.session_state[f"model.{name}.shown"] = True
        texts = ", ".join(f"{k}={view[k]}" for k in bad)
        st.warning(
            f"The link's {texts} is not a setting of {name} or not a value it takes; "
            "the app's start value is used instead."
        )
    write_model_url(url)
    # ``params`` holds every value that differs from the class default, the quick
    # defaults included (they start the widgets), so the spec is explicit about them.
    try:
        spec = runspec.create(
            name, dataset_settings(), params, walks=walks, split=split, evaluation=evaluation
        )
    except (SettingsError, ValueError) as exc:
        st.session_state["run_spec"] = None
        st.error(f"Model settings: {exc}")
        return
    st.session_state["run_spec"] = spec
