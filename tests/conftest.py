"""Shared test setup: every test session gets its own empty artifact cache."""

from __future__ import annotations

import os
import tempfile

# Set before any recsys_core import reads it, so no test touches the user's cache.
os.environ["RECSYS_CACHE_DIR"] = tempfile.mkdtemp(prefix="recsys-test-cache-")
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "recsys-numba-cache"))
# Job workers normally linger a minute for the next run; in tests they exit at once.
os.environ.setdefault("RECSYS_WORKER_LINGER", "0")
