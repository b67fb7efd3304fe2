"""In-memory reuse of loaded objects across reruns and sessions.

``st.cache_resource`` holds one small store per process; objects are keyed by the engine's
own artifact keys (dataset key, run key), so "same settings" means the same object. The
build runs outside any Streamlit cache decorator so its progress bar draws normally.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

T = TypeVar("T")

# How many objects of each kind stay in memory (a 420k-product dataset is ~100 MB).
LIMITS = {"prepared": 3, "search": 3, "index": 6, "walks": 4, "outcome": 8, "projection": 8}
# Kinds held under a byte budget as well (``memo(..., size=...)``): run outcomes are
# memory-mapped (their vectors stay on disk until read), so what they hold in memory is
# their curves and any array a page has copied; the budget bounds that.
BUDGET_ENV = "RECSYS_OUTCOME_BUDGET"
BUDGETS = {"outcome": 512 * 1024**2}


class _Store:
    def __init__(self) -> None:
        self.items: dict[str, OrderedDict[str, Any]] = {}
        self.locks: dict[tuple[str, str], threading.Lock] = {}
        self.guard = threading.Lock()

    def lock_for(self, kind: str, key: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault((kind, key), threading.Lock())


@st.cache_resource(show_spinner=False)
def _store() -> _Store:
    return _Store()


def budget(kind: str) -> int | None:
    """The byte budget of ``kind`` (``$RECSYS_OUTCOME_BUDGET`` for outcomes), or None."""
    if kind == "outcome" and os.environ.get(BUDGET_ENV, "").strip():
        from recsys_core.jobs.estimate import parse_bytes

        return parse_bytes(os.environ[BUDGET_ENV])
    return BUDGETS.get(kind)


def memo(kind: str, key: str, build: Callable[[], T], size: Callable[[T], int] | None = None) -> T:
    """The object ``kind/key``: from memory if built before in this process, else built.

    Two sessions asking for the same key at once build it once. With ``size`` (bytes an
    object holds in memory) the least recently used objects of ``kind`` leave once their
    sum passes the kind's :func:`budget` (the newest always stays).
    """
    store = _store()
    with store.lock_for(kind, key):
        items = store.items.setdefault(kind, OrderedDict())
        if key in items:
            items.move_to_end(key)
            return items[key]
        value = build()
        items[key] = value
        while len(items) > LIMITS.get(kind, 4):
            items.popitem(last=False)
        limit = budget(kind)
        if size is not None and limit is not None:
            while len(items) > 1 and sum(size(v) for v in items.values()) > limit:
                items.popitem(last=False)
        return value


def has(kind: str, key: str) -> bool:
    """Whether ``kind/key`` is in memory now (then :func:`memo` builds nothing)."""
    store = _store()
    with store.guard:
        return key in store.items.get(kind, {})


def get(kind: str, key: str) -> Any:
    """The object ``kind/key`` if it is in memory now, else None (nothing is built)."""
    store = _store()
    with store.guard:
        return store.items.get(kind, {}).get(key)


def values(kind: str) -> list[Any]:
    """The objects of ``kind`` in memory now."""
    store = _store()
    with store.guard:
        return list(store.items.get(kind, {}).values())


def forget(kind: str, key: str | None = None) -> None:
    """Drop one object (or every object of ``kind``) from memory."""
    store = _store()
    with store.guard:
        items = store.items.get(kind)
        if items is None:
            return
        if key is None:
            items.clear()
        else:
            items.pop(key, None)
