"""Every page runs inside the app's router, whichever way Streamlit reached it.

``streamlit run app.py`` on a fresh server first serves a URL such as ``/train`` through
Streamlit's built-in ``pages/`` discovery: it runs ``pages/train.py`` on its own, without
``app.py``, so without the sidebar and the page list. Streamlit stops doing that for good
once ``st.navigation`` has run in the process. So every page calls :func:`inside_app`
after its imports: when the page was reached through ``app.py`` it does nothing; when
discovery ran it alone it runs ``app.main()`` (navigation, sidebar, this same page) and
stops the bare run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

_local = threading.local()


@contextmanager
def routing() -> Iterator[None]:
    """Mark the page run inside this block as reached through ``app.py`` (one per thread)."""
    before = getattr(_local, "routing", False)
    _local.routing = True
    try:
        yield
    finally:
        _local.routing = before


def inside_app() -> None:
    """Make sure the calling page runs inside ``app.main()``; see the module docstring."""
    if getattr(_local, "routing", False):
        return
    import app  # the entry file, as a module: its main() is the router

    app.main()
    st.stop()
