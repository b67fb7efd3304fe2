"""Where work runs: the executor setting and the connection to Ray.

``RECSYS_RAY_ADDRESS`` (or ``--ray`` on the command line) picks the executor:

* unset or empty: today's local worker processes; nothing here is imported or started;
* ``local``: a private Ray head started by this process on this machine, stopped when
  the process ends;
* ``host:port``: an existing cluster's head (its GCS port).

Safe by default: token authentication stays on (``RAY_AUTH_MODE=token``; a process that
has ``RAY_AUTH_MODE=disabled`` is refused rather than connected), the dashboard is never
started, and every port of a local head is passed explicitly from one block of
``RECSYS_RAY_PORTS`` (default ``26379-26999``), never Ray's defaults 6379/8265.

A local head keeps its token, logs and sockets in a private folder (mode 0700) of its
own, so it never reads or overwrites ``~/.ray/auth_token`` or ``/tmp/ray`` of other Ray
users on the machine.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ADDRESS_ENV = "RECSYS_RAY_ADDRESS"
PORTS_ENV = "RECSYS_RAY_PORTS"
CPUS_ENV = "RECSYS_RAY_CPUS"
DEFAULT_PORTS = (26379, 26999)
BLOCK = 100  # ports per local head: GCS, raylet, object manager, agents, then workers
LOCAL = "local"
START_TIMEOUT = 60.0

_LOCK = threading.RLock()
_HEAD: LocalHead | None = None
_CONNECTED: str | None = None  # the setting this process connected with


class ClusterError(RuntimeError):
    """Ray is asked for but cannot be used (not installed, refused, unreachable)."""


def address(value: str | None = None) -> str | None:
    """The executor setting: ``value`` if given, else ``$RECSYS_RAY_ADDRESS``; None = local
    worker processes."""
    text = value if value is not None else os.environ.get(ADDRESS_ENV, "")
    text = text.strip()
    return text or None


def enabled() -> bool:
    """True when runs and walks are to execute on Ray."""
    return address() is not None


def set_address(value: str | None) -> None:
    """Make ``value`` the setting of this process and of the workers it starts."""
    if value:
        os.environ[ADDRESS_ENV] = value.strip()
    else:
        os.environ.pop(ADDRESS_ENV, None)


def port_range() -> tuple[int, int]:
    """The ports a local head may use, from ``RECSYS_RAY_PORTS`` (``LOW-HIGH``)."""
    text = os.environ.get(PORTS_ENV, "")
    if not text:
        return DEFAULT_PORTS
    try:
        low_text, high_text = text.split("-", 1)
        low, high = int(low_text), int(high_text)
    except ValueError:
        raise ClusterError(f"{PORTS_ENV} must look like 26379-26999, got {text!r}") from None
    if not (1024 <= low and high - low + 1 >= BLOCK and high <= 65535):
        raise ClusterError(f"{PORTS_ENV}: need a range of at least {BLOCK} ports above 1023")
    return low, high


def port_free(port: int) -> bool:
    """True when nothing listens on ``port`` (any interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Closed connections in TIME_WAIT do not count: only a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def free_block(low: int | None = None, high: int | None = None) -> int:
    """First port ``p`` in the range with ``p .. p+BLOCK-1`` all free."""
    default_low, default_high = port_range()
    low = default_low if low is None else low
    high = default_high if high is None else high
    for base in range(low, high - BLOCK + 2, BLOCK):
        if all(port_free(p) for p in range(base, base + BLOCK)):
            return base
    raise ClusterError(
        f"no block of {BLOCK} free ports in {low}-{high} for a local Ray head; "
        f"stop another head or set {PORTS_ENV}"
    )


def head_ports(base: int) -> dict[str, int]:
    """Every port of a head whose GCS listens on ``base``, as ``ray start`` options."""
    return {
        "port": base,
        "node-manager-port": base + 1,
        "object-manager-port": base + 2,
        "runtime-env-agent-port": base + 3,
        "dashboard-agent-grpc-port": base + 4,
        "dashboard-agent-listen-port": base + 5,
        "metrics-export-port": base + 6,
        "min-worker-port": base + 20,
        "max-worker-port": base + BLOCK - 1,
    }


def new_token_file(folder: Path) -> Path:
    """A fresh random token in ``folder/auth_token`` (mode 0600)."""
    path = folder / "auth_token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the head's ``ray start --block`` when the process that started it
    dies, however it dies, so a killed worker never leaves a Ray head behind."""
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, log_path: Path, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise ClusterError(f"the Ray head exited with {proc.returncode}:\n{tail}")
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise ClusterError(f"the Ray head did not open port {port} within {timeout:g} s")


FOLDER_PREFIX = "recsys-ray-"
OWNER_FILE = "owner"


def _start_time(pid: int) -> str:
    """The process's start time (Linux), so a reused pid is not taken for the owner."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return text[text.rfind(")") + 2 :].split()[19]


def _owner_alive(folder: Path) -> bool:
    try:
        pid_text, _, started = (folder / OWNER_FILE).read_text().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or _start_time(pid) == started


def remove_stale_folders(parent: Path | None = None) -> list[Path]:
    """Remove private head folders (``/tmp/recsys-ray-*``) whose owner process is gone.

    A process that starts a head removes its folder when it stops it; one killed with
    SIGKILL cannot, so the next head start tidies up. Folders of another user, or of a
    live owner, stay.
    """
    parent = parent or Path(tempfile.gettempdir())
    removed = []
    for folder in parent.glob(FOLDER_PREFIX + "*"):
        try:
            mine = folder.is_dir() and folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and (folder / OWNER_FILE).exists() and not _owner_alive(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class LocalHead:
    """A Ray head node (``ray start --head --block``) owned by this process.

    Token authentication on, with a fresh token in the head's private folder; no
    dashboard; every port from one free block of the allowed range. :meth:`stop` ends
    exactly the processes it started (the ``ray start`` process stops its own children).
    """

    def __init__(
        self,
        num_cpus: int | None = None,
        base_port: int | None = None,
        object_store_mb: int = 512,
        folder: Path | None = None,
    ) -> None:
        self.num_cpus = num_cpus
        self.base_port = base_port
        self.object_store_mb = object_store_mb
        self.folder = folder
        self.proc: subprocess.Popen | None = None
        self.token_path: Path | None = None
        self._own_folder = folder is None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.base_port}"

    def env(self) -> dict[str, str]:
        """What a client needs to reach this head (auth mode and token path)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_path)}

    def command(self) -> list[str]:
        assert self.base_port is not None and self.folder is not None
        ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
        cmd = [ray_cli, "start", "--head", "--block", "--node-ip-address", "127.0.0.1"]
        for name, port in head_ports(self.base_port).items():
            cmd += [f"--{name}", str(port)]
        cmd += [
            "--include-dashboard",
            "false",
            "--object-store-memory",
            str(self.object_store_mb * 2**20),
            "--temp-dir",
            str(self.folder / "tmp"),
            "--disable-usage-stats",
        ]
        if self.num_cpus is not None:
            cmd += ["--num-cpus", str(self.num_cpus)]
        return cmd

    def start(self, timeout: float = START_TIMEOUT) -> LocalHead:
        if self.folder is None:
            remove_stale_folders()
            self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))  # 0700
            (self.folder / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.token_path = new_token_file(self.folder)
        if self.base_port is None:
            self.base_port = free_block()
        env = dict(os.environ, **self.env())
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env.pop("RAY_AUTH_TOKEN", None)  # the file above is the one token
        log_path = self.folder / "head.log"
        # PR_SET_PDEATHSIG fires when the starting *thread* ends: only tie the head to the
        # main thread, which lives as long as the process.
        tie_to_thread = (
            sys.platform.startswith("linux")
            and threading.current_thread() is threading.main_thread()
        )
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent if tie_to_thread else os.setsid,
            )
        try:
            _wait_for_port("127.0.0.1", self.base_port, self.proc, log_path, timeout)
        except BaseException:
            self.stop()
            raise
        log.info("local Ray head pid %d at %s", self.proc.pid, self.address)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the ``ray start`` process (it stops its children), SIGKILL its process
        group if it has not finished within ``timeout``; remove the private folder."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._own_folder and self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(
            f"{ADDRESS_ENV} / --ray needs Ray: pip install ray (see requirements.txt)"
        ) from exc
    return ray


def check_auth_mode() -> None:
    """Refuse to run with Ray's token authentication turned off."""
    mode = os.environ.get("RAY_AUTH_MODE", "").strip().lower()
    if mode and mode != "token":
        raise ClusterError(
            f"RAY_AUTH_MODE={mode!r}: recsys only talks to Ray clusters with token "
            "authentication (RAY_AUTH_MODE=token); see docs/scaling.md"
        )


def _refresh_auth_state() -> None:
    """Ray reads the auth mode and token once, at import: when it was imported before the
    variables above were set, make it read them again."""
    if "ray" not in sys.modules:
        return
    with contextlib.suppress(Exception):
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


def connect(value: str | None = None, num_cpus: int | None = None) -> Any:
    """Connect this process to Ray for the setting ``value`` (default: the environment).

    ``local`` starts a private head once per process (``num_cpus`` or
    ``$RECSYS_RAY_CPUS``, default all cores); an address connects to that cluster with
    the token from the environment (``RAY_AUTH_TOKEN_PATH``, ``RAY_AUTH_TOKEN`` or
    ``~/.ray/auth_token``). Returns the ``ray`` module. Connecting again with the same
    setting is free.
    """
    global _HEAD, _CONNECTED
    setting = address(value)
    if setting is None:
        raise ClusterError(f"no Ray address: set {ADDRESS_ENV} or pass --ray ADDRESS|local")
    check_auth_mode()
    with _LOCK:
        if _CONNECTED is not None and sys.modules["ray"].is_initialized():
            if _CONNECTED == setting:
                return sys.modules["ray"]
            raise ClusterError(f"already connected to Ray {_CONNECTED!r}, not {setting!r}")
        if setting == LOCAL:
            if _HEAD is None:
                _ray()  # fail before starting anything when Ray is not installed
                cpus = num_cpus
                if cpus is None and os.environ.get(CPUS_ENV):
                    cpus = int(os.environ[CPUS_ENV])
                _HEAD = LocalHead(num_cpus=cpus).start()
                atexit.register(shutdown)
            os.environ.pop("RAY_AUTH_TOKEN", None)
            os.environ.update(_HEAD.env())
            target = _HEAD.address
        else:
            os.environ.setdefault("RAY_AUTH_MODE", "token")
            target = setting
        _refresh_auth_state()
        ray = _ray()
        try:
            ray.init(address=target, log_to_driver=False, logging_level=logging.WARNING)
        except Exception as exc:
            raise ClusterError(f"cannot connect to Ray at {target}: {exc}") from exc
        _CONNECTED = setting
        return ray


def shutdown() -> None:
    """Disconnect, and stop the local head this process started (if any)."""
    global _HEAD, _CONNECTED
    with _LOCK:
        if "ray" in sys.modules:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        _CONNECTED = None
        head, _HEAD = _HEAD, None
        if head is not None:
            head.stop()
            for name in ("RAY_AUTH_TOKEN_PATH",):
                os.environ.pop(name, None)


def local_head() -> LocalHead | None:
    """The local head this process started, if any."""
    return _HEAD


def connected() -> bool:
    """True when this process holds a Ray connection."""
    return _CONNECTED is not None and "ray" in sys.modules and sys.modules["ray"].is_initialized()


def describe() -> dict[str, Any]:
    """What the executor setting means right now, for the app's sidebar and ``--json``.

    Never starts or connects anything: ``executor`` is ``local workers``, ``ray local``
    or ``ray cluster``; with a live connection in this process, ``cpus`` and ``nodes``
    come from the cluster.
    """
    setting = address() or _CONNECTED
    info: dict[str, Any] = {"setting": setting or "", "auth": "token"}
    if setting is None:
        info.update(executor="local workers", text="local worker processes (no Ray)")
        return info
    kind = "ray local" if setting == LOCAL else "ray cluster"
    info["executor"] = kind
    info["text"] = (
        "Ray started on this machine for the run (private head, token auth)"
        if setting == LOCAL
        else f"Ray cluster at {setting} (token auth)"
    )
    try:
        import importlib.util

        info["ray_installed"] = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        info["ray_installed"] = False
    if connected():
        ray = sys.modules["ray"]
        with contextlib.suppress(Exception):
            resources = ray.cluster_resources()
            info["cpus"] = float(resources.get("CPU", 0))
            info["nodes"] = sum(1 for n in ray.nodes() if n.get("Alive"))
    return info
