"""Resident memory and CPU seconds of process trees, sampled from ``/proc`` (Linux).

A :class:`ProcWatch` thread reads, every ``interval`` seconds, each process below the
roots it was given: resident memory now (``VmRSS``), its own peak (``VmHWM``, which the
kernel keeps, so a peak between samples is not missed) and CPU seconds (user + system,
from ``/proc/<pid>/stat``); and the load average. A process that exits keeps its last
sample. Only the standard library: the bench needs no psutil.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcSample:
    """What one process looked like, its role, and its CPU seconds over time."""

    pid: int
    role: str
    cmd: str
    nice: int = 0
    rss_max_mb: float = 0.0
    hwm_mb: float = 0.0
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, cpu s)

    def cpu_between(self, t0: float, t1: float) -> float:
        """CPU seconds spent between monotonic times ``t0`` and ``t1`` (nearest samples)."""
        inside = [c for t, c in self.cpu if t0 <= t <= t1]
        before = [c for t, c in self.cpu if t < t0]
        if not inside:
            return 0.0
        start = before[-1] if before else inside[0]
        return inside[-1] - start


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _cmd_has(pid: int, marks: list[str]) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return any(m in cmd for m in marks)


def descendants(root: int, kids: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and every process below it."""
    kids = _children() if kids is None else kids
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def read_process(pid: int) -> tuple[float, float, float, int, str] | None:
    """(rss MB, peak rss MB, cpu s, nice, command line) of ``pid``, or None once gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    fields = (line.split(":", 1) for line in status.splitlines() if line.startswith("Vm"))
    kb = {k: float(v.split()[0]) for k, v in fields}
    cpu = (int(stat[11]) + int(stat[12])) / TICKS  # utime, stime (fields 14, 15)
    return kb.get("VmRSS", 0.0) / 1024, kb.get("VmHWM", 0.0) / 1024, cpu, int(stat[16]), cmd


def role_of(cmd: str) -> str:
    if "recsys_core.jobs.worker" in cmd:
        return "worker"
    if "streamlit" in cmd:
        return "server"
    if "chrom" in cmd:
        return "browser"
    if "recsys_core" in cmd:
        return "cli"
    return "other"


class ProcWatch:
    """Samples every process below ``roots`` (and new ones as they appear)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.roots: list[int] = []
        self.marks: list[str] = []
        self.procs: dict[int, ProcSample] = {}
        self.load: list[tuple[float, float]] = []  # (monotonic, 1-minute load average)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="procwatch", daemon=True)

    def watch(self, pid: int) -> None:
        """Sample ``pid`` and every process below it."""
        with self._lock:
            self.roots.append(pid)

    def watch_command(self, text: str) -> None:
        """Sample every process whose command line holds ``text`` (and those below it):
        workers start in sessions of their own and may be adopted by init."""
        with self._lock:
            self.marks.append(text)

    def start(self) -> ProcWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def sample(self) -> None:
        now = time.monotonic()
        kids = _children()
        with self._lock:
            roots = list(self.roots)
            if self.marks:
                roots += [pid for pid in _all_pids() if _cmd_has(pid, self.marks)]
            pids = {p for root in roots for p in descendants(root, kids)}
            self.load.append((now, os.getloadavg()[0]))
            for pid in pids:
                got = read_process(pid)
                if got is None:
                    continue
                rss, hwm, cpu, nice, cmd = got
                if not cmd:  # exiting: its command line and memory are gone already
                    continue
                rec = self.procs.get(pid)
                if rec is None or rec.cmd != cmd[:200]:  # a pid reused, or exec'd
                    rec = self.procs[pid] = ProcSample(pid, role_of(cmd), cmd[:200], nice)
                rec.nice = nice  # a worker renices itself after it starts
                rec.rss_max_mb = max(rec.rss_max_mb, rss)
                rec.hwm_mb = max(rec.hwm_mb, hwm)
                rec.cpu.append((now, cpu))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def of_role(self, role: str) -> list[ProcSample]:
        """Processes of ``role`` seen so far."""
        with self._lock:
            return [p for p in self.procs.values() if p.role == role]

    def cpu_between(self, role: str, t0: float, t1: float) -> float:
        with self._lock:
            return sum(p.cpu_between(t0, t1) for p in self.procs.values() if p.role == role)

    def load_between(self, t0: float, t1: float) -> tuple[float, float]:
        """(mean, max) of the 1-minute load average sampled between ``t0`` and ``t1``."""
        with self._lock:
            values = [v for t, v in self.load if t0 <= t <= t1] or [os.getloadavg()[0]]
        return sum(values) / len(values), max(values)
