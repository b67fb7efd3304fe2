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
from streamlit.testing.v1 import AppTest

BUILD_WAIT_SECONDS = 600.0  # only catches a hung build

_ORIGINAL_RUN = AppTest._run


def _run_and_let_builds_finish(self: AppTest, widget_state=None, timeout=None) -> AppTest:
    """``AppTest._run``, then what the browser's progress fragment does: when the run left
    a dataset build job queued or running, wait for it (on the job store) and run the
    page again, so it draws the built dataset (or the build's failure).

    AppTest runs no fragment timers, so without this every page that waits for a build
    (the default catalog's first view, a Load click) would stay on its progress bar. A
    test that looks at that bar sets ``at.wait_for_builds = False``.
    """
    import recsys_core.jobs as jobs

    waiting = getattr(self, "wait_for_builds", True) and getattr(self, "_settling", 0) < 5
    # A build this run submits may also finish before the run ends (a small catalog, a
    # fast worker): the page then still shows its progress bar, which the fragment would
    # have turned into the built page. So builds newer than the run count, finished or not.
    newest = max((r.id for r in jobs.list_runs(kind="build")), default=0) if waiting else 0
    result = _ORIGINAL_RUN(self, widget_state, timeout)
    if not waiting:
        return result
    active = [r for r in jobs.list_runs(kind="build") if r.active or r.id > newest]
    if not active:
        return result
    for record in active:
        after = jobs.wait(record.id, timeout=BUILD_WAIT_SECONDS)
        assert not after.active, f"build job {record.id} still {after.status}: hung?"
    self._settling = getattr(self, "_settling", 0) + 1
    try:
        return self._tree.run(timeout=timeout)
    finally:
        self._settling -= 1


AppTest._run = _run_and_let_builds_finish


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Keep each phase's report on the test item, so a fixture can see that it failed
    (the browser tests then keep a screenshot of the failing page)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
