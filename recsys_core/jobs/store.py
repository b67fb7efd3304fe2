"""The run store: every job, its per-step metrics and its artifacts in one SQLite file.

A job is a model run (training or a baseline), a dataset build or a projection: its
``kind`` column says which (see ``KINDS``). Readers that want model runs only ask for
them (``list(kind="model")``). Model runs have a lane of ``max_concurrent`` slots and the
other kinds one of their own, so a page waiting for a build never waits behind training.

The file sits next to the artifact cache (``<cache>/runs.sqlite``, or ``$RECSYS_RUNS_DB``)
in WAL mode, so the app, the CLI and several workers read and write it at once. Every
state change is one short ``BEGIN IMMEDIATE`` transaction; readers never block writers.

Statuses: ``queued -> running -> finished | failed | cancelled | interrupted``, and
``running <-> stuck``. A settings key is unique among queued, running, stuck and finished
runs (a partial UNIQUE index), so two processes submitting the same settings get one run.

Cancellation and liveness are state in the run's row, not text: :meth:`RunStore.request_cancel`
sets ``cancel_requested``, which the executor polls (:meth:`RunStore.cancel_requested`) and
checks at every progress report and training event, whatever the phase; the executor calls
:meth:`RunStore.beat` every few seconds while a run executes.

Any executor can drive a run through this API: ``claim`` (or its own insert), ``beat``,
``cancel_requested``, ``set_progress``, ``add_metrics``, ``finish``. One that claims
without a local pid is judged by its heartbeat alone and overrides ``kill_worker``.

Stuck workers (see :meth:`RunStore.mark_stuck`): a ``running`` run whose heartbeat is older
than ``stuck_after`` seconds (``$RECSYS_STUCK_SECONDS``, default 300) while its worker
process still lives becomes ``stuck`` - the process is frozen (SIGSTOP, a debugger),
deadlocked, or held in compiled code that keeps the GIL. A stuck run keeps its slot and its
settings key; it turns ``running`` again at its next heartbeat, and cancelling it kills its
worker (:meth:`RunStore.kill_worker`).

Dead workers (see :meth:`RunStore.recover`): a run left ``running`` whose worker process
is gone becomes

* ``failed`` ("worker process died (pid N)") when the process that started the worker
  (the app, the CLI) is still alive: the worker died on its own - killed, out of memory,
  crashed;
* ``interrupted`` when that process is gone too: the whole app was stopped (a restart, a
  shutdown, a machine or container reboot). A worker stopped with SIGTERM / SIGINT /
  SIGHUP marks its run ``interrupted`` itself.

Either way nothing finished before is lost: finished runs and their artifacts stay.

Readers (:meth:`RunStore.get`, :meth:`RunStore.list`) settle such runs when they meet
them, but never start a process: a worker is started only by opening the store with
``recover=True``, by ``recover()``, a submit, a restart or cancelling a stuck run.

Each claimed run records where it executes: ``executor`` (``local`` or ``ray``) and
``host`` (this machine's name, or the Ray node that took it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from recsys_core.jobs import procs
from recsys_core.jobs.artifacts import FileRecord

log = logging.getLogger(__name__)

DB_ENV = "RECSYS_RUNS_DB"
CONCURRENCY_ENV = "RECSYS_MAX_CONCURRENT"
STUCK_ENV = "RECSYS_STUCK_SECONDS"
DEFAULT_STUCK_SECONDS = 300.0
STATUSES = ("queued", "running", "stuck", "finished", "failed", "cancelled", "interrupted")
EXECUTING = ("running", "stuck")  # a worker process holds the run (and a slot)
ACTIVE = ("queued", *EXECUTING)  # the run may still change
LIVE = (*ACTIVE, "finished")  # statuses that hold their settings key
DONE = ("finished", "failed", "cancelled", "interrupted")
METRIC_COLUMNS = (
    "step",
    "epoch",
    "loss",
    "auc",
    "auc_seen",
    "lr",
    "elapsed",
    "epoch_end",
    "ndcg",
)


def _sql_in(statuses: Sequence[str]) -> str:
    """``('a','b')`` for a fixed tuple of status names (constants, never user input)."""
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"


SQL_EXECUTING = _sql_in(EXECUTING)
SQL_LIVE = _sql_in(LIVE)

# What a job does. "model" trains or scores a model (a RunSpec: training runs and
# baselines); "build" prepares a dataset with its split; "projection" computes a 2-D map of
# a finished run's vectors. Only model runs have outcomes: run pickers, comparisons and
# studies read those alone (``list(kind="model")``).
MODEL = "model"
KINDS = (MODEL, "build", "projection")

# 2: status 'stuck'; 3: executor and host of each run; 4: live validation NDCG@10 per event;
# 5: the job's kind
SCHEMA_VERSION = 5
RUNS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {{name}} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    spec TEXT NOT NULL,
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN {_sql_in(STATUSES)}),
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    pid INTEGER,
    pid_token TEXT,
    owner_pid INTEGER,
    owner_token TEXT,
    heartbeat REAL,
    error TEXT,
    progress_done REAL NOT NULL DEFAULT 0,
    progress_total REAL NOT NULL DEFAULT 0,
    progress_message TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    summary TEXT,
    keys TEXT,
    executor TEXT,
    host TEXT,
    kind TEXT NOT NULL DEFAULT 'model'
)
"""
SCHEMA = f"""
{RUNS_TABLE.format(name="runs")};
CREATE UNIQUE INDEX IF NOT EXISTS runs_live_key ON runs(key) WHERE status IN {SQL_LIVE};
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE INDEX IF NOT EXISTS runs_kind ON runs(kind, status);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    epoch INTEGER,
    loss REAL,
    auc REAL,
    auc_seen REAL,
    lr REAL,
    elapsed REAL,
    epoch_end INTEGER NOT NULL DEFAULT 0,
    ndcg REAL
);
CREATE INDEX IF NOT EXISTS metrics_run_step ON metrics(run_id, step);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
);
CREATE INDEX IF NOT EXISTS artifacts_path ON artifacts(path);
CREATE TABLE IF NOT EXISTS idle_workers (
    pid INTEGER PRIMARY KEY,
    token TEXT,
    since REAL NOT NULL
);
"""


def default_db_path() -> Path:
    """``$RECSYS_RUNS_DB`` or ``runs.sqlite`` in the artifact cache root."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    from recsys_core.common import cache

    return cache.cache_root() / "runs.sqlite"


def env_number(name: str, default: float, kind: type = float) -> Any:
    """The job layer's settings from the environment: ``$name`` as a number > 0."""
    text = os.environ.get(name)
    if text is None:
        return default
    what = "a whole number >= 1" if kind is int else "a number > 0"
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be {what}, got {value}")
    return value


def default_max_concurrent() -> int:
    """``$RECSYS_MAX_CONCURRENT`` (default 1): how many runs execute at once."""
    return env_number(CONCURRENCY_ENV, 1, int)


def default_stuck_seconds() -> float:
    """``$RECSYS_STUCK_SECONDS`` (default 300): heartbeat age after which a run is stuck."""
    return env_number(STUCK_ENV, DEFAULT_STUCK_SECONDS)


@dataclasses.dataclass
class RunRecord:
    """One row of the runs table, with its JSON columns parsed.

    ``spec`` is the stored settings as a dict (``RunSpec.as_dict()``); :meth:`run_spec`
    decodes it back into a :class:`~recsys_core.pipeline.RunSpec`. ``summary`` holds
    ``auc_all``, ``auc_seen``, ``auc_unseen``, ``hit_rate``, ``ndcg`` (at ``k``),
    ``hit_rate_seen``, ``ndcg_seen``, every ranking metric with its interval
    (``ndcg@10``, ``ndcg@10_low``, ``ndcg@10_high``, ...; see
    :meth:`~recsys_core.evaluation.evaluate.EvalReport.metrics`), ``train_seconds`` once
    the run finished.
    """

    id: int
    key: str
    spec: dict[str, Any]
    model: str
    dataset: str
    status: str
    created: float
    started: float | None
    finished: float | None
    pid: int | None
    owner_pid: int | None
    heartbeat: float | None
    error: str | None
    progress_done: float
    progress_total: float
    progress_message: str
    cancel_requested: bool
    summary: dict[str, Any] | None
    keys: dict[str, str]
    pid_token: str | None = dataclasses.field(default=None, repr=False)
    owner_token: str | None = dataclasses.field(default=None, repr=False)
    executor: str | None = None  # "local" or "ray": what executed the run
    host: str | None = None  # the machine (a Ray run: its node) that executed it
    kind: str = MODEL  # what the job does (see ``KINDS``)

    @property
    def active(self) -> bool:
        """Queued, running or stuck: the run may still change."""
        return self.status in ACTIVE

    @property
    def progress(self) -> float:
        """Fraction done of the current stage, 0..1."""
        if self.progress_total <= 0:
            return 0.0
        return max(0.0, min(1.0, self.progress_done / self.progress_total))

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (or to now while running)."""
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def run_spec(self) -> Any:
        """The settings as a :class:`~recsys_core.pipeline.RunSpec` (model runs only:
        ValueError for a build or projection job)."""
        from recsys_core.jobs.specs import spec_from_dict

        if self.kind != MODEL:
            raise ValueError(f"job {self.id} is a {self.kind} job, not a model run")
        return spec_from_dict(self.spec)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        """The record of a ``runs`` row: columns by field name, JSON columns parsed."""
        values = {f.name: row[f.name] for f in dataclasses.fields(cls)}
        values["spec"] = json.loads(row["spec"])
        values["cancel_requested"] = bool(row["cancel_requested"])
        values["summary"] = json.loads(row["summary"]) if row["summary"] else None
        values["keys"] = json.loads(row["keys"]) if row["keys"] else {}
        return cls(**values)


class RunStore:
    """Runs, metrics and artifact checksums in one SQLite file (WAL mode).

    Parameters
    ----------
    path:
        Database file; default ``$RECSYS_RUNS_DB`` or ``<cache root>/runs.sqlite``.
    max_concurrent:
        How many runs execute at once; default ``$RECSYS_MAX_CONCURRENT`` or 1.
    recover:
        Settle runs whose worker died and start a worker for waiting runs, once, on open
        (what the app and the CLI want; workers open the store with False).
    stuck_after:
        Seconds without a heartbeat after which a running run whose worker lives is
        marked ``stuck``; default ``$RECSYS_STUCK_SECONDS`` or 300. Keep it well above
        the executor's heartbeat interval (``$RECSYS_HEARTBEAT_SECONDS``, default 1).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        max_concurrent: int | None = None,
        recover: bool = True,
        stuck_after: float | None = None,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_concurrent = max_concurrent or default_max_concurrent()
        self.stuck_after = float(stuck_after) if stuck_after else default_stuck_seconds()
        self._local = threading.local()
        self._init_schema()
        if recover:
            self.recover()

    # -- connections ---------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread: Streamlit runs each session's script in its own thread.
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA busy_timeout = 30000")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock at once (no upgrade deadlocks)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _init_schema(self) -> None:
        conn = self._conn()
        conn.execute("PRAGMA journal_mode = WAL")
        # Off while the schema may be rebuilt: dropping the old runs table must not
        # cascade to the metrics and artifacts that reference it.
        conn.execute("PRAGMA foreign_keys = OFF")
        try:
            with self.transaction() as tx:
                version = tx.execute("PRAGMA user_version").fetchone()[0]
                exists = tx.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
                ).fetchone()
                if exists is not None and version < 2:
                    self._migrate_to_2(tx)
                if exists is not None and version < 3:
                    self._migrate_to_3(tx)
                if exists is not None and version < 4:
                    self._migrate_to_4(tx)
                if exists is not None and version < 5:
                    self._migrate_to_5(tx)
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        finally:
            conn.execute("PRAGMA foreign_keys = ON")

    @staticmethod
    def _migrate_to_2(tx: sqlite3.Connection) -> None:
        """Version 1 -> 2: the status CHECK gains 'stuck' (SQLite rebuilds the table)."""
        tx.execute(RUNS_TABLE.format(name="runs_v2"))
        columns = ", ".join(r[1] for r in tx.execute("PRAGMA table_info(runs)").fetchall())
        tx.execute(f"INSERT INTO runs_v2 ({columns}) SELECT {columns} FROM runs")
        tx.execute("DROP TABLE runs")  # its indexes go with it; SCHEMA makes them anew
        tx.execute("ALTER TABLE runs_v2 RENAME TO runs")
        log.info("run store migrated to schema version 2 (status 'stuck')")

    @staticmethod
    def _migrate_to_3(tx: sqlite3.Connection) -> None:
        """Version 2 -> 3: where each run executed (``executor``, ``host``)."""
        have = {r[1] for r in tx.execute("PRAGMA table_info(runs)").fetchall()}
        for column in ("executor", "host"):
            if column not in have:
                tx.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
        log.info("run store migrated to schema version 3 (executor and host)")

    @staticmethod
    def _migrate_to_4(tx: sqlite3.Connection) -> None:
        """Version 3 -> 4: the live validation NDCG@10 of each epoch-end event."""
        have = {r[1] for r in tx.execute("PRAGMA table_info(metrics)").fetchall()}
        if have and "ndcg" not in have:
            tx.execute("ALTER TABLE metrics ADD COLUMN ndcg REAL")
        log.info("run store migrated to schema version 4 (live NDCG)")

    @staticmethod
    def _migrate_to_5(tx: sqlite3.Connection) -> None:
        """Version 4 -> 5: each job's kind; every earlier job was a model run."""
        have = {r[1] for r in tx.execute("PRAGMA table_info(runs)").fetchall()}
        if "kind" not in have:
            tx.execute(f"ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT '{MODEL}'")
        log.info("run store migrated to schema version 5 (job kinds)")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- reading -------------------------------------------------------------------

    def get(self, run_id: int) -> RunRecord:
        """The run ``run_id``; KeyError when there is none."""
        row = self._conn().execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id} in {self.path}")
        record = RunRecord.from_row(row)
        if self._needs_settling(record):
            self.settle()
            row = self._conn().execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id} in {self.path}")
            return RunRecord.from_row(row)
        return record

    def list(self, status: str | None = None, kind: str | None = None) -> list[RunRecord]:
        """All jobs, newest first, optionally only those with ``status`` and of ``kind``."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}; choose one of {', '.join(KINDS)}")
        where = [(c, v) for c, v in (("status", status), ("kind", kind)) if v is not None]
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(f"{c} = ?" for c, _ in where)
        params = tuple(v for _, v in where)
        rows = self._conn().execute(sql + " ORDER BY id DESC", params).fetchall()
        records = [RunRecord.from_row(r) for r in rows]
        if any(self._needs_settling(r) for r in records):
            self.settle()
            rows = self._conn().execute(sql + " ORDER BY id DESC", params).fetchall()
            records = [RunRecord.from_row(r) for r in rows]
        return records

    def latest(self, key: str) -> RunRecord | None:
        """The newest job with settings ``key``, whatever its status (None if never
        submitted): what a page shows for a job it may start, its failure included."""
        row = (
            self._conn()
            .execute("SELECT id FROM runs WHERE key = ? ORDER BY id DESC LIMIT 1", (key,))
            .fetchone()
        )
        return self.get(int(row[0])) if row is not None else None

    def find_live(self, key: str) -> RunRecord | None:
        """The queued, running or finished run with settings ``key``, if any."""
        row = (
            self._conn()
            .execute(f"SELECT * FROM runs WHERE key = ? AND status IN {SQL_LIVE}", (key,))
            .fetchone()
        )
        return RunRecord.from_row(row) if row is not None else None

    def metric_rows(self, run_id: int, since_step: int = -1) -> list[tuple]:
        return (
            self._conn()
            .execute(
                f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics "
                "WHERE run_id = ? AND step > ? ORDER BY rowid",
                (int(run_id), int(since_step)),
            )
            .fetchall()
        )

    def cancel_requested(self, run_id: int) -> bool:
        """True once :meth:`request_cancel` was called for the run (or it was deleted).

        Executors poll it while a run executes and stop the run at its next check.
        """
        row = (
            self._conn()
            .execute("SELECT cancel_requested FROM runs WHERE id = ?", (int(run_id),))
            .fetchone()
        )
        return row is None or bool(row[0])  # a deleted run is as good as cancelled

    def artifacts(self, run_id: int | None = None, key: str | None = None) -> list[FileRecord]:
        """Recorded files of run ``run_id``, or of every run with settings ``key``."""
        if run_id is not None:
            rows = (
                self._conn()
                .execute("SELECT path, size, sha256 FROM artifacts WHERE run_id = ?", (run_id,))
                .fetchall()
            )
        else:
            rows = (
                self._conn()
                .execute(
                    "SELECT DISTINCT a.path, a.size, a.sha256 FROM artifacts a "
                    "JOIN runs r ON r.id = a.run_id WHERE r.key = ?",
                    (key,),
                )
                .fetchall()
            )
        return [FileRecord(r[0], r[1], r[2]) for r in rows]

    def artifacts_in(self, folders: Iterable[str]) -> list[FileRecord]:
        """Recorded files (any run) inside the artifact folders ``kind/key``."""
        found: dict[str, FileRecord] = {}
        for folder in folders:
            rows = (
                self._conn()
                .execute(
                    "SELECT path, size, sha256 FROM artifacts WHERE path LIKE ? ESCAPE '\\'",
                    (_like_prefix(folder),),
                )
                .fetchall()
            )
            for r in rows:
                found[r[0]] = FileRecord(r[0], r[1], r[2])
        return list(found.values())

    # -- liveness ------------------------------------------------------------------

    @staticmethod
    def _worker_alive(record: RunRecord) -> bool:
        return _executor_alive(record.pid, record.pid_token)

    def _needs_settling(self, record: RunRecord) -> bool:
        """A reader met a run whose worker died, or whose heartbeat is overdue."""
        if record.status not in EXECUTING:
            return False
        if not self._worker_alive(record):
            return True
        return record.status == "running" and self._overdue(record.heartbeat, time.time())

    def _overdue(self, heartbeat: float | None, now: float) -> bool:
        return heartbeat is not None and now - heartbeat > self.stuck_after

    def beat(self, run_id: int) -> None:
        """The executor of ``run_id`` is alive: record the time; a stuck run runs again."""
        self._conn().execute(
            "UPDATE runs SET heartbeat = ?, "
            "error = CASE WHEN status = 'stuck' THEN NULL ELSE error END, "
            "status = CASE WHEN status = 'stuck' THEN 'running' ELSE status END "
            f"WHERE id = ? AND status IN {SQL_EXECUTING}",
            (time.time(), int(run_id)),
        )

    def mark_stuck(self) -> list[int]:
        """Mark ``stuck`` the running runs whose heartbeat is older than ``stuck_after``.

        Only runs whose worker process still lives: a dead one is settled as failed or
        interrupted first (see :meth:`recover`). Readers (:meth:`get`, :meth:`list`) call
        it when they meet an overdue heartbeat. Returns the ids marked.
        """
        with self.transaction() as tx:
            self._settle_dead(tx)
            return self._settle_stuck(tx)

    def _settle_stuck(self, tx: sqlite3.Connection) -> list[int]:
        """Inside a transaction: running runs with an overdue heartbeat become stuck."""
        now = time.time()
        changed = []
        rows = tx.execute(
            "SELECT id, pid, heartbeat FROM runs WHERE status = 'running' AND heartbeat < ?",
            (now - self.stuck_after,),
        ).fetchall()
        for row in rows:
            error = (
                f"stuck: its worker (pid {row['pid']}) is alive but sent no heartbeat for "
                f"{now - row['heartbeat']:.0f} s (frozen, deadlocked, or in compiled code "
                "that holds the GIL); it runs again if the heartbeat resumes, and cancelling "
                "it kills the worker."
            )
            tx.execute(
                "UPDATE runs SET status = 'stuck', error = ? WHERE id = ? AND status = 'running'",
                (error, row["id"]),
            )
            changed.append(row["id"])
            log.warning("run %d: %s", row["id"], error)
        return changed

    def kill_worker(self, run_id: int, pid: int | None, token: str | None) -> bool:
        """Stop the worker of stuck run ``run_id`` (the local executor: SIGKILL its pid).

        An executor whose workers are not local processes overrides this. True when the
        worker was stopped.
        """
        return procs.kill(pid, token)

    def _settle_dead(self, tx: sqlite3.Connection) -> list[int]:
        """Inside a transaction: mark executing runs whose worker is gone. Returns their ids."""
        changed = []
        rows = tx.execute(
            "SELECT id, pid, pid_token, owner_pid, owner_token FROM runs "
            f"WHERE status IN {SQL_EXECUTING}"
        ).fetchall()
        now = time.time()
        for row in rows:
            if _executor_alive(row["pid"], row["pid_token"]):
                continue
            if procs.is_alive(row["owner_pid"], row["owner_token"] or None):
                status = "failed"
                error = (
                    f"worker process died (pid {row['pid']}) while the process that started "
                    f"it (pid {row['owner_pid']}) was still running, so it was killed, ran out "
                    "of memory or crashed; restart the run to try again."
                )
            else:
                status = "interrupted"
                error = (
                    f"interrupted: the worker (pid {row['pid']}) stopped together with the "
                    "app that started it (app stopped or machine restarted); restart the run "
                    "to run it again, and finished stages are reused from the cache."
                )
            tx.execute(
                "UPDATE runs SET status = ?, error = ?, finished = ? "
                f"WHERE id = ? AND status IN {SQL_EXECUTING}",
                (status, error, now, row["id"]),
            )
            changed.append(row["id"])
            log.warning("run %d: %s", row["id"], error)
        return changed

    def _idle_alive(self, tx: sqlite3.Connection) -> int:
        """Inside a transaction: count idle workers that still live; forget dead ones."""
        alive = 0
        for row in tx.execute("SELECT pid, token FROM idle_workers").fetchall():
            if procs.is_alive(row["pid"], row["token"] or None):
                alive += 1
            else:
                tx.execute("DELETE FROM idle_workers WHERE pid = ?", (row["pid"],))
        return alive

    # Two lanes of ``max_concurrent`` slots each: model runs, and the short jobs pages wait
    # for (dataset builds, projections). A long training run never holds up a page view.

    def _free_slots(self, tx: sqlite3.Connection) -> tuple[int, int]:
        """Inside a transaction: free slots of the model lane and of the other lane."""
        rows = tx.execute(
            f"SELECT kind = '{MODEL}', COUNT(*) FROM runs WHERE status IN {SQL_EXECUTING} "
            f"GROUP BY kind = '{MODEL}'"
        ).fetchall()
        busy = {bool(r[0]): int(r[1]) for r in rows}
        return (
            max(0, self.max_concurrent - busy.get(True, 0)),
            max(0, self.max_concurrent - busy.get(False, 0)),
        )

    def _startable(self, tx: sqlite3.Connection) -> int:
        """Inside a transaction: how many queued jobs could start now (free slots)."""
        rows = tx.execute(
            f"SELECT kind = '{MODEL}', COUNT(*) FROM runs WHERE status = 'queued' "
            f"GROUP BY kind = '{MODEL}'"
        ).fetchall()
        queued = {bool(r[0]): int(r[1]) for r in rows}
        model_free, other_free = self._free_slots(tx)
        return min(queued.get(True, 0), model_free) + min(queued.get(False, 0), other_free)

    def workers_needed(self) -> bool:
        """True when queued jobs that a free slot could run outnumber idle workers."""
        with self.transaction() as tx:
            idle = self._idle_alive(tx)
            startable = self._startable(tx)
        return startable > idle

    def set_idle(self, pid: int, token: str | None) -> None:
        """A worker with nothing to do says so: submitters then need not start another."""
        with self.transaction() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO idle_workers (pid, token, since) VALUES (?, ?, ?)",
                (pid, token, time.time()),
            )

    def retire(self, pid: int) -> bool:
        """An idle worker leaves, unless a run it could take is waiting (then False).

        The check and the removal are one transaction, so a run submitted while an idle
        worker was counted on is always picked up by someone.
        """
        with self.transaction() as tx:
            if self._startable(tx):
                return False
            tx.execute("DELETE FROM idle_workers WHERE pid = ?", (pid,))
        return True

    def idle_workers(self) -> list[int]:
        """Pids of workers waiting for runs."""
        rows = self._conn().execute("SELECT pid FROM idle_workers").fetchall()
        return [int(r[0]) for r in rows]

    def settle(self) -> list[int]:
        """Mark runs whose worker died (failed / interrupted) and overdue ones stuck.

        What readers do when they meet such a run: it writes statuses and never starts a
        process (only :meth:`recover`, a submit or a restart does). Returns the ids marked.
        """
        with self.transaction() as tx:
            return self._settle_dead(tx) + self._settle_stuck(tx)

    def recover(self, start_queued: bool = True) -> list[int]:
        """Settle runs whose worker died, mark stuck ones; start a worker when runs wait.

        Called when the store is opened (app start, CLI) and by ``jobs.recover``. Readers
        call :meth:`settle` instead, which starts nothing. Returns the ids of runs it
        marked.
        """
        changed = self.settle()
        if start_queued and self.workers_needed():
            self.start_worker()
        return changed

    def start_worker(
        self, owner: tuple[int | None, str | None] | None = None, preload: bool = False
    ) -> None:
        """Start a worker process; it exits at once if enough runs are executing."""
        procs.spawn_worker(self.path, self.max_concurrent, owner, preload)

    def warm_up(self) -> bool:
        """Start a preloaded idle worker unless one is idle already or all slots are busy."""
        with self.transaction() as tx:
            idle = self._idle_alive(tx)
            model_free, _ = self._free_slots(tx)
        if idle or not model_free:
            return False
        self.start_worker(preload=True)
        return True

    # -- writing -------------------------------------------------------------------

    def enqueue(
        self, spec: dict[str, Any], key: str, model: str, dataset: str, kind: str = MODEL
    ) -> tuple[int, bool]:
        """Insert a queued job unless one with ``key`` is queued, running or finished.

        Returns ``(run_id, created)``. Safe across processes: the check and the insert are
        one immediate transaction, and the partial UNIQUE index backs it.
        """
        with self.transaction() as tx:
            row = tx.execute(
                f"SELECT id FROM runs WHERE key = ? AND status IN {SQL_LIVE}", (key,)
            ).fetchone()
            if row is not None:
                return int(row[0]), False
            if kind not in KINDS:
                raise ValueError(f"unknown job kind {kind!r}; choose one of {', '.join(KINDS)}")
            cur = tx.execute(
                "INSERT INTO runs (key, spec, model, dataset, status, created, kind) "
                "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                (key, json.dumps(spec, default=str), model, dataset, time.time(), kind),
            )
            return int(cur.lastrowid), True

    def claim(
        self,
        pid: int | None,
        token: str | None,
        owner_pid: int | None,
        owner_token: str | None,
        executor: str = "local",
        host: str | None = None,
    ) -> RunRecord | None:
        """Atomically take the oldest queued job whose lane has a free slot (see
        ``_free_slots``); None when none may start.

        ``pid`` is the local process that executes it, or None for an executor whose
        workers are not processes of this machine (then its heartbeat alone tells).
        ``executor`` ("local", "ray") and ``host`` are recorded in the run's row; an
        executor that places the run elsewhere later says so with :meth:`set_placement`.
        """
        with self.transaction() as tx:
            self._settle_dead(tx)
            model_free, other_free = self._free_slots(tx)
            lanes = [f"kind = '{MODEL}'"] if model_free else []
            lanes += [f"kind != '{MODEL}'"] if other_free else []
            if not lanes:
                return None
            row = tx.execute(
                f"SELECT id FROM runs WHERE status = 'queued' AND ({' OR '.join(lanes)}) "
                "ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            tx.execute("DELETE FROM idle_workers WHERE pid = ?", (pid,))
            now = time.time()
            tx.execute(
                "UPDATE runs SET status = 'running', started = ?, heartbeat = ?, pid = ?, "
                "pid_token = ?, owner_pid = ?, owner_token = ?, error = NULL, "
                "progress_done = 0, progress_total = 0, progress_message = 'starting', "
                "executor = ?, host = ? WHERE id = ?",
                (now, now, pid, token, owner_pid, owner_token, executor, host, row[0]),
            )
            claimed = tx.execute("SELECT * FROM runs WHERE id = ?", (row[0],)).fetchone()
        return RunRecord.from_row(claimed)

    def set_placement(self, run_id: int, executor: str, host: str | None) -> None:
        """Where the run executes: ``executor`` ("local", "ray") on ``host`` (a Ray node)."""
        self._conn().execute(
            "UPDATE runs SET executor = ?, host = ? WHERE id = ?",
            (str(executor), host, int(run_id)),
        )

    def set_progress(self, run_id: int, done: float, total: float, message: str) -> None:
        """The stage progress of a run (what the app's bar and the CLI show)."""
        self._conn().execute(
            "UPDATE runs SET progress_done = ?, progress_total = ?, progress_message = ? "
            "WHERE id = ?",
            (float(done), float(total), str(message), int(run_id)),
        )

    def add_metrics(self, run_id: int, rows: Sequence[tuple]) -> None:
        """Append metric rows ``(step, epoch, loss, auc, auc_seen, lr, elapsed, epoch_end,
        ndcg)`` (rows without the last field leave it empty)."""
        rows = [tuple(r) + (None,) * (len(METRIC_COLUMNS) - len(r)) for r in rows]
        if not rows:
            return
        with self.transaction() as tx:
            exists = tx.execute("SELECT 1 FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if exists is None:  # deleted while running: drop the rows
                return
            tx.executemany(
                f"INSERT INTO metrics (run_id, {', '.join(METRIC_COLUMNS)}) "
                f"VALUES ({', '.join('?' * (len(METRIC_COLUMNS) + 1))})",
                [(int(run_id), *r) for r in rows],
            )

    def finish(
        self,
        run_id: int,
        status: str,
        error: str | None = None,
        summary: dict[str, Any] | None = None,
        keys: dict[str, str] | None = None,
        artifacts: Sequence[FileRecord] = (),
    ) -> bool:
        """End an executing (running or stuck) run with ``status``; False when it was not."""
        if status not in DONE:
            raise ValueError(f"finish() needs one of {', '.join(DONE)}, got {status!r}")
        with self.transaction() as tx:
            cur = tx.execute(
                "UPDATE runs SET status = ?, error = ?, summary = ?, keys = ?, finished = ?, "
                "heartbeat = ?, progress_message = CASE WHEN ? = 'finished' THEN 'finished' "
                f"ELSE progress_message END WHERE id = ? AND status IN {SQL_EXECUTING}",
                (
                    status,
                    error,
                    json.dumps(summary) if summary is not None else None,
                    json.dumps(keys) if keys is not None else None,
                    time.time(),
                    time.time(),
                    status,
                    int(run_id),
                ),
            )
            if cur.rowcount == 0:
                return False
            self._record_artifacts(tx, run_id, artifacts)
        return True

    @staticmethod
    def _record_artifacts(
        tx: sqlite3.Connection, run_id: int, artifacts: Sequence[FileRecord]
    ) -> None:
        for rec in artifacts:
            tx.execute(
                "INSERT OR REPLACE INTO artifacts (run_id, path, size, sha256) VALUES (?, ?, ?, ?)",
                (int(run_id), rec.path, rec.size, rec.sha256),
            )
            # The file on disk is the truth once a run wrote it: a rebuilt artifact may
            # differ byte for byte (threaded training), so every run's record follows.
            tx.execute(
                "UPDATE artifacts SET size = ?, sha256 = ? WHERE path = ?",
                (rec.size, rec.sha256, rec.path),
            )

    def mark(self, run_id: int, status: str, error: str | None) -> None:
        """Force a status (e.g. ``failed`` for a finished run whose artifact is corrupt)."""
        with self.transaction() as tx:
            tx.execute(
                "UPDATE runs SET status = ?, error = ? WHERE id = ?",
                (status, error, int(run_id)),
            )

    def request_cancel(self, run_id: int) -> str:
        """Cancel ``run_id`` in whatever phase it is; returns the status right after.

        A queued run is cancelled at once. A running one gets its cancel flag set: its
        executor stops it at the next progress report or training event (see
        :meth:`cancel_requested`). A stuck one (including a running one whose heartbeat
        is overdue now) cannot react, so its worker is killed and the run cancelled here.
        """
        killed = False
        with self.transaction() as tx:
            self._settle_dead(tx)
            self._settle_stuck(tx)
            row = tx.execute(
                "SELECT status, pid, pid_token, heartbeat FROM runs WHERE id = ?", (int(run_id),)
            ).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id} in {self.path}")
            status = row["status"]
            if status in ACTIVE:
                tx.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (int(run_id),))
            if status == "queued":
                tx.execute(
                    "UPDATE runs SET status = 'cancelled', finished = ?, "
                    "error = 'cancelled before it started' WHERE id = ?",
                    (time.time(), int(run_id)),
                )
                return "cancelled"
            if status == "stuck":
                killed = self.kill_worker(int(run_id), row["pid"], row["pid_token"] or None)
                silent = time.time() - (row["heartbeat"] or time.time())
                tx.execute(
                    "UPDATE runs SET status = 'cancelled', finished = ?, error = ? WHERE id = ?",
                    (
                        time.time(),
                        f"cancelled while stuck: its worker (pid {row['pid']}) had sent no "
                        f"heartbeat for {silent:.0f} s and was "
                        + ("killed" if killed else "already gone"),
                        int(run_id),
                    ),
                )
                status = "cancelled"
        if killed and self.workers_needed():
            self.start_worker()  # the killed worker's queue needs a new one
        return status

    def delete(self, run_id: int) -> list[str]:
        """Delete the run, its metrics and artifact records.

        Returns the artifact folders (``kind/key``) no other run records any more; the
        caller decides which of them to free on disk.
        """
        with self.transaction() as tx:
            rows = tx.execute(
                "SELECT path FROM artifacts WHERE run_id = ?", (int(run_id),)
            ).fetchall()
            folders = sorted({"/".join(r[0].split("/")[:2]) for r in rows})
            tx.execute("DELETE FROM runs WHERE id = ?", (int(run_id),))
            orphaned = []
            for folder in folders:
                used = tx.execute(
                    "SELECT 1 FROM artifacts WHERE path LIKE ? ESCAPE '\\' LIMIT 1",
                    (_like_prefix(folder),),
                ).fetchone()
                if used is None:
                    orphaned.append(folder)
        return orphaned


def _executor_alive(pid: int | None, token: str | None) -> bool:
    """Whether the process executing a run lives.

    A run claimed without a pid (an executor whose workers are not processes of this
    machine) has no process to check: its heartbeat alone tells (see ``mark_stuck``).
    """
    return pid is None or procs.is_alive(pid, token or None)


def _like_prefix(folder: str) -> str:
    escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.rstrip("/") + "/%"
