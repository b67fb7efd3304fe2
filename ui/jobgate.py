"""The one way the app starts work: a button with the job's estimate beside it.

A link or a page view never starts a job; a click does, and only after three checks,
each answered with one sentence: the job's estimated peak memory is within the server's
limit (``ui/operator.py``), the server's queue is below its cap, and so is this browser
session's. Runs started here are remembered with their owner (the browser, through its
Streamlit cookie, so a refresh keeps them), and a visitor may cancel or delete only their
own runs unless the operator allows any.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from typing import Any

import streamlit as st

from recsys_core.jobs import estimate
from ui import operator


@st.cache_resource(show_spinner=False)
def _owners() -> tuple[dict[int, str], threading.Lock]:
    """run id -> owner token, for the life of this server process."""
    return {}, threading.Lock()


def _xsrf_token(cookie: str) -> str:
    """The browser's lasting token inside Streamlit's XSRF cookie.

    The cookie is re-masked on every page load (``2|mask|masked token|time``), so its
    text changes while the token under the mask stays the browser's.
    """
    parts = cookie.split("|")
    if len(parts) == 4 and parts[0] == "2":
        try:
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        except ValueError:
            return ""
        if not mask:
            return ""
        return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked)).hex()
    return cookie


def owner_token() -> str:
    """Who this visitor is: their browser (a hash of its Streamlit cookie's token), else
    the session."""
    cookie = ""
    try:
        cookie = _xsrf_token(st.context.cookies.get("_streamlit_xsrf", "") or "")
    except Exception:  # no browser behind this session (AppTest)
        cookie = ""
    if not isinstance(cookie, str) or not cookie:
        cookie = st.session_state.setdefault("jobs.owner", secrets.token_hex(16))
    return hashlib.sha256(cookie.encode()).hexdigest()[:16]


def remember(run_id: int) -> None:
    """Record that this visitor started ``run_id``."""
    owners, lock = _owners()
    with lock:
        owners.setdefault(int(run_id), owner_token())


def mine(run_id: int) -> bool:
    """Whether this visitor started ``run_id`` (on this server process)."""
    owners, lock = _owners()
    with lock:
        return owners.get(int(run_id)) == owner_token()


def may_change(run_id: int) -> bool:
    """Whether this visitor may cancel, restart or delete ``run_id``."""
    return operator.settings().cancel_any or mine(run_id)


NOT_YOURS = (
    "Another visitor started this job, so only they can cancel or delete it "
    "(the operator can allow anyone with RECSYS_CANCEL_ANY=1)."
)


def queue_problem(jobs: Any, adding: int = 1) -> str:
    """One sentence when ``adding`` more jobs would pass the server's or session's cap.

    Every kind of job counts: model runs, dataset builds and projections.
    """
    ops = operator.settings()
    active = [r for r in jobs.list_runs(kind=None) if r.active]
    if len(active) + adding > ops.max_queued:
        return (
            f"This server already has {len(active)} job(s) queued or running, and takes at "
            f"most {ops.max_queued}: wait for one to finish or cancel one."
        )
    own = [r for r in active if mine(r.id)]
    if len(own) + adding > ops.max_queued_session:
        return (
            f"You already have {len(own)} job(s) queued or running, and a visitor may have "
            f"at most {ops.max_queued_session}: wait for one to finish or cancel one."
        )
    return ""


def memory_problem(est: estimate.Estimate) -> str:
    """One sentence when ``est`` needs more memory than this server allows one job."""
    return estimate.refusal(est, operator.settings().memory_limit)


def draw_start_button(
    label: str,
    est: estimate.Estimate,
    key: str,
    help: str | None = None,
    primary: bool = True,
) -> bool:
    """A button with the job's estimate beside it; True when clicked and allowed.

    Above the memory limit the button is disabled and the sentence says why.
    """
    problem = memory_problem(est)
    left, right = st.columns([2, 3], vertical_alignment="center")
    clicked = left.button(
        label,
        key=key,
        type="primary" if primary else "secondary",
        disabled=bool(problem),
        help=help,
    )
    right.caption(f"Estimated {est.describe()} of memory at its peak.")
    if problem:
        st.warning(problem)
    return bool(clicked) and not problem


def submit(jobs: Any, specs: list[Any], ests: list[estimate.Estimate]) -> list[int]:
    """Submit ``specs`` after the checks; returns their run ids (none after a refusal).

    A refusal is drawn as one sentence.
    """
    for est in ests:
        problem = memory_problem(est)
        if problem:
            st.warning(problem)
            return []
    problem = queue_problem(jobs, adding=len(specs))
    if problem:
        st.warning(problem)
        return []
    ids = []
    for spec in specs:
        run_id = jobs.submit(spec)
        record = jobs.get_run(run_id)
        if record.active:
            remember(run_id)
        ids.append(run_id)
    return ids
