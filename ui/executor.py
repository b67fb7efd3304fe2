"""The sidebar's executor section: where new runs execute (local workers or Ray), read-only.

The setting is ``RECSYS_RAY_ADDRESS`` of the app's process (see
``recsys_core.cluster.executor``), set by the operator (``ui/operator.py``): the worker
processes the app starts inherit it, and a worker picks its executor once, when it starts.
Nothing is started or connected when the section draws: a local Ray head or a cluster
connection is made by a worker when it runs a run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import streamlit as st

from recsys_core.cluster import executor

_HOST_PORT = re.compile(r"^(ray://)?[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?:(\d{1,5})$")


def check_address(value: str) -> str:
    """ "" when ``value`` is a valid setting (empty, ``local`` or ``host:port``), else why not."""
    text = value.strip()
    if not text:
        return ""
    if text == executor.LOCAL:
        pass
    else:
        match = _HOST_PORT.match(text)
        if match is None:
            return (
                f"{text!r} is not an executor setting: leave it empty for local worker "
                "processes, write `local` for a Ray on this machine, or a cluster head's "
                "`host:port` (e.g. `10.0.0.5:6379`)."
            )
        port = int(match.group(3))
        if not 1 <= port <= 65535:
            return f"port {port} of {text!r} is out of range (1-65535)."
    if importlib.util.find_spec("ray") is None:
        return f"{text!r} needs Ray, which is not installed here: pip install ray."
    return ""


def _setting_of(pid: int) -> tuple[bool, str | None]:
    """(readable, ``RECSYS_RAY_ADDRESS`` of a live process: None = unset or empty)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False, None
    for entry in raw.split(b"\0"):
        name, _, value = entry.partition(b"=")
        if name.decode(errors="replace") == executor.ADDRESS_ENV:
            return True, value.decode(errors="replace").strip() or None
    return True, None


def live_workers(store: Any) -> dict[int, str | None]:
    """Worker processes of ``store`` alive now (idle or running a run): pid -> setting.

    Linux only (reads ``/proc/<pid>/environ``); a worker whose setting cannot be read is
    left out.
    """
    from recsys_core.jobs import procs

    pids: dict[int, str | None] = {}
    with contextlib.suppress(Exception):
        candidates = {(pid, None) for pid in store.idle_workers()}
        for record in store.list():
            if record.status in ("running", "stuck") and record.pid:
                candidates.add((int(record.pid), None))
        for pid, token in candidates:
            if pid == os.getpid() or not procs.is_alive(pid, token):
                continue
            readable, setting = _setting_of(pid)
            if readable:
                pids[pid] = setting
    return pids


def _name(setting: str | None) -> str:
    return "local workers" if setting is None else f"Ray {setting}"


def draw_executor_section() -> None:
    """Draw the operator's settings, read-only: where runs execute, files, limits.

    A visitor cannot change them: the executor receives every run of this server (and
    the Ray token of its environment), so only the operator sets it (``ui/operator.py``).
    """
    from recsys_core.jobs.estimate import size_text
    from ui import operator, runs

    try:
        ops = operator.settings()
    except ValueError as exc:
        st.error(f"This server's settings are not valid: {exc}.")
        return
    operator.apply_executor(ops)
    info = executor.describe()
    current = executor.address()
    with st.expander(f"executor: {info['executor']}", expanded=False):
        problem = check_address(current or "")
        if problem:
            st.error(f"The operator's executor setting is not usable: {problem}")
        st.caption(f"New runs execute on: {info['text']}.")
        data = str(ops.data_dir) if ops.data_dir is not None else "none (uploads only)"
        st.caption(
            f"Set by the operator (flags, environment or recsys.toml), read-only here: "
            f"data folder {data} · one job at most {size_text(ops.memory_limit)} of memory · "
            f"built-in catalogs up to {ops.max_products:,} products · at most "
            f"{ops.max_queued} runs queued or running, {ops.max_queued_session} per visitor · "
            + ("anyone may cancel any run." if ops.cancel_any else "visitors cancel own runs.")
        )
        others = {
            pid: s for pid, s in live_workers(runs.jobs().default_store()).items() if s != current
        }
        if others:
            listed = ", ".join(f"pid {pid} on {_name(s)}" for pid, s in sorted(others.items()))
            st.warning(
                f"A worker started before the change is still alive ({listed}): it executes "
                "queued runs with its own setting until it leaves (when idle for "
                "RECSYS_WORKER_LINGER seconds, 60 by default). Runs after that use "
                f"{_name(current)}."
            )
