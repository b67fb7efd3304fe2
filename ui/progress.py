"""A Streamlit progress bar fed by the engine's ``on_progress(done, total, message)``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from recsys_core.common.progress import Progress


@contextmanager
def progress_bar(title: str) -> Iterator[Progress]:
    """Show a bar while the block runs; yields the callback to hand to the engine.

    Updates are throttled (every 0.1 s) so a fast loop does not flood the browser; the
    bar disappears when the block ends.
    """
    slot = st.empty()
    bar = slot.progress(0.0, text=title)
    last = [0.0]

    def update(done: float, total: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] < 0.1 and done < total:
            return
        last[0] = now
        share = min(max(float(done) / float(total), 0.0), 1.0) if total else 0.0
        bar.progress(share, text=f"{title}: {message}")

    try:
        yield update
    finally:
        slot.empty()
