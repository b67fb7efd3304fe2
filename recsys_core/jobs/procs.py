"""Process identity and worker spawning for the job layer.

A pid alone does not identify a process: after a crash or a container restart the same
number is soon reused. A *token* adds the machine's boot id and the process start time
(Linux ``/proc``), so "is the worker of run 7 still alive?" is answered for the very
process that claimed the run, and a zombie (dead, not yet reaped) counts as dead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_PROC = Path("/proc")
_CHILDREN: list[subprocess.Popen] = []
_LOG_LIMIT = 10 * 1024 * 1024


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "noboot"


def process_token(pid: int | None) -> str | None:
    """Identity of the running process ``pid``, or None when no such live process exists.

    On Linux: ``"<boot id>:<start time>"``; elsewhere ``"pid:<pid>"`` when the process
    answers signal 0 (weaker: pid reuse goes unnoticed there).
    """
    if not pid or pid <= 0:
        return None
    stat_path = _PROC / str(pid) / "stat"
    if _PROC.is_dir() and (_PROC / "self").exists():
        try:
            text = stat_path.read_text()
        except OSError:
            return None
        # The command name (field 2) may hold spaces and parentheses: split at the last ')'.
        fields = text[text.rfind(")") + 2 :].split()
        if not fields or fields[0] in ("Z", "X"):
            return None
        return f"{_boot_id()}:{fields[19]}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return f"pid:{pid}"


def is_alive(pid: int | None, token: str | None) -> bool:
    """True when ``pid`` is alive and is the same process that had ``token``."""
    current = process_token(pid)
    return current is not None and (token is None or current == token)


def kill(pid: int | None, token: str | None) -> bool:
    """SIGKILL ``pid`` if it is still the process that had ``token``; True when signalled.

    SIGKILL, not SIGTERM: it also ends a stopped (SIGSTOP) or wedged process, which could
    not run a handler. A worker this one started is reaped the moment it exits.
    """
    if not pid or not is_alive(pid, token):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    log.warning("killed worker pid %d", pid)
    return True


def reap() -> None:
    """Collect workers this process started that have exited (no zombies left behind)."""
    for child in list(_CHILDREN):
        if child.poll() is not None:
            with contextlib.suppress(ValueError):
                _CHILDREN.remove(child)


def _log_file(db_path: Path) -> Path:
    path = db_path.with_name(db_path.stem + "-workers.log")
    try:
        if path.stat().st_size > _LOG_LIMIT:
            os.replace(path, path.with_suffix(".log.1"))
    except OSError:
        pass
    return path


def spawn_worker(
    db_path: Path,
    max_concurrent: int,
    owner: tuple[int | None, str | None] | None = None,
    preload: bool = False,
) -> subprocess.Popen:
    """Start ``python -m recsys_core.jobs.worker`` detached from this process.

    The worker runs in its own session, so a Ctrl-C in the app's terminal or a browser
    refresh does not stop training; its output goes to ``<db>-workers.log``. ``owner``
    (default: this process) is recorded as the worker's starter (see
    ``RunStore.recover`` for why). ``preload`` imports the model stack before waiting
    for runs (see ``jobs.warm_up``).
    """
    owner_pid, owner_token = owner or (os.getpid(), process_token(os.getpid()))
    reap()
    package_root = str(Path(__file__).resolve().parents[2])
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    cmd = [
        sys.executable,
        "-m",
        "recsys_core.jobs.worker",
        "--db",
        str(db_path),
        "--max-concurrent",
        str(max_concurrent),
        "--owner-pid",
        str(owner_pid or 0),
        "--owner-token",
        owner_token or "",
    ] + (["--preload"] if preload else [])
    with open(_log_file(db_path), "ab") as out:
        child = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _CHILDREN.append(child)
    # Collect its exit status the moment it exits: a finished worker never lingers as a
    # zombie (which would also look alive to a pid check until the next spawn).
    threading.Thread(target=_reap_when_done, args=(child,), name="reap", daemon=True).start()
    log.info("started worker pid %d for %s", child.pid, db_path)
    return child


def _reap_when_done(child: subprocess.Popen) -> None:
    child.wait()
    with contextlib.suppress(ValueError):
        _CHILDREN.remove(child)
