"""The view's state in the URL: read once when a session opens, written as the view changes.

The URL holds what makes a view: the loaded dataset and its settings, the model and every
setting changed from the app's start values, and, written by the pickers in ``ui/runs.py``
and ``ui/load.py``, the watched run, the compared runs and the looked-up product. A
refresh starts a new session, which reads them back once (:func:`url_start`), so a
refresh or a shared link opens the same view. For example::

    /train?dataset=movielens&model=eges&model.epochs=14&run=42
    /neighbours?dataset=builtin&products=5000&runs=3,5&product=B000123
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st


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
    now = st.session_state.setdefault("url.now", {})
    if prefix:
        for key in [k for k in st.query_params if k.startswith(prefix) and k not in values]:
            del st.query_params[key]
        # keys under the prefix that are gone from the view (also those only opened with)
        for key in [k for k in {**url_start(), **now} if k.startswith(prefix)]:
            if key not in values:
                now[key] = None
    for key, value in values.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value
    # What this session shows now, for pickers drawn later on other pages.
    st.session_state.setdefault("url.now", {}).update(values)


def url_view() -> dict[str, str]:
    """The view this session shows now: what it opened with, overwritten by what it has
    written since (a key it removed is gone). Pickers start from it, so a pick follows the
    visitor from page to page even where Streamlit draws the widget anew."""
    view = {**url_start(), **st.session_state.get("url.now", {})}
    return {k: v for k, v in view.items() if v is not None}


def url_value(key: str) -> str | None:
    """What this session last wrote for ``key``, else what the URL opened with."""
    now = st.session_state.get("url.now", {})
    if key in now:
        return now[key]
    return url_start().get(key)


def parse_value(text: str, like: Any) -> Any:
    """``text`` from the URL as the type of ``like`` (a setting's start value)."""
    if isinstance(like, bool):
        return text.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(like, int):
        return int(float(text))
    if isinstance(like, float):
        return float(text)
    return text


def is_scalar(value: Any) -> bool:
    """Whether a setting's value can be written into the URL as one word."""
    return isinstance(value, (bool, int, float, str))


def url_settings(
    prefix: str, start: dict[str, Any], source: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Settings under ``prefix`` ("model.") in ``source`` (default: the URL the session
    opened with), parsed; and bad keys."""
    values, bad = {}, []
    for key, text in (url_start() if source is None else source).items():
        name = key[len(prefix) :] if key.startswith(prefix) else None
        if name is None:
            continue
        if name not in start or not is_scalar(start[name]):
            bad.append(key)
            continue
        try:
            values[name] = parse_value(text, start[name])
        except ValueError:
            bad.append(key)
    return values, bad


def changed_keys(start: dict[str, Any], values: dict[str, Any], prefix: str) -> dict[str, str]:
    """URL keys for the scalar settings in ``values`` that differ from ``start``."""
    return {
        f"{prefix}{k}": str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in values.items()
        if is_scalar(start.get(k)) and v != start[k]
    }
