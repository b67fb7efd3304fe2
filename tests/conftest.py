"""Shared test setup: every test session gets its own empty artifact cache."""

from __future__ import annotations

import os
import tempfile

# Set before any recsys_core import reads it, so no test touches the user's cache.
os.environ["RECSYS_CACHE_DIR"] = tempfile.mkdtemp(prefix="recsys-test-cache-")
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "recsys-numba-cache"))
# Job workers normally linger a minute for the next run; in tests they exit at once.
os.environ.setdefault("RECSYS_WORKER_LINGER", "0")


import pytest  # after the environment above, which imports must see


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Keep each phase's report on the test item, so a fixture can see that it failed
    (the browser tests then keep a screenshot of the failing page)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
