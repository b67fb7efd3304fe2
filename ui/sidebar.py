"""The sidebar shared by every page: dataset, model, executor, and what runs anywhere.

Pages read the current choice through :func:`ui.datasets.dataset_settings` and
:func:`drawn_run_spec`; they never draw the sidebar themselves (``app.main`` does, once
per rerun, before it runs the page).
"""

from __future__ import annotations

import threading
from typing import Any

import streamlit as st

from ui import executor
from ui.dataset_picker import draw_dataset_picker
from ui.model_picker import draw_model_picker, write_model_url
from ui.url import url_start

# The sidebar's places filled after the page has run (a thread runs one session's script
# at a time).
_later = threading.local()


def draw_sidebar(show_runs: bool = True) -> None:
    """The whole sidebar: dataset, model, and (``show_runs``) what runs anywhere, with Cancel.

    Two sections are drawn into their places later: the model section when a page first
    asks for :func:`drawn_run_spec`, or after the page, because listing the models imports
    the model stack, which a page that needs no model (Data, Graph...) should not wait for
    before it paints; and the runs, after the page, so a run the page has just started
    shows up with its Cancel button at once. The Train page shows the runs in its body.
    """
    url_start()  # read the URL before anything writes to it
    if "url.model" in st.session_state:
        # The model section draws late; the URL holds the model from the start of the run
        # (a page switch clears the query string).
        write_model_url(st.session_state["url.model"])
    with st.sidebar:
        draw_dataset_picker()
        st.divider()
        _later.model = st.container()
        executor.draw_executor_section()
        _later.runs = st.container() if show_runs else None


def draw_model_section() -> None:
    """Draw the model section into its sidebar place, once per script run."""
    box = getattr(_later, "model", None)
    if box is None:
        return
    _later.model = None
    with box:
        draw_model_picker()


def drawn_run_spec() -> Any:
    """The RunSpec for the sidebar's model and dataset, or None when a setting is bad.

    Draws the model section first if this run has not drawn it yet.
    """
    draw_model_section()
    return st.session_state.get("run_spec")


def draw_sidebar_rest() -> None:
    """After the page: the model section if no page asked for it, and the runs."""
    from ui import runs

    draw_model_section()
    box = getattr(_later, "runs", None)
    _later.runs = None
    if box is not None:
        with box:
            runs.draw_running_anywhere(sidebar=True)
