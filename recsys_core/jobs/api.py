"""Background runs: submit settings, follow them, cancel, restart, delete, load results.

Every function takes an optional ``store``; without one it uses the default store
(``$RECSYS_RUNS_DB`` or ``<cache root>/runs.sqlite``), opened once per process and
database file. Reading never starts a worker; submitting, restarting and :func:`recover`
do.

Corrupt artifacts: :func:`load_outcome` checks the run's files against the checksums
recorded when it finished. A mismatch never reaches the caller: the artifact is marked
incomplete, the run is marked ``failed`` with the reason, and :class:`ArtifactError`
says that :func:`restart` rebuilds it (reusing the stages that are intact). A worker
makes the same check on the cached inputs of every run it starts and rebuilds what
changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recsys_core.jobs import artifacts
from recsys_core.jobs.specs import submission
from recsys_core.jobs.store import METRIC_COLUMNS, MODEL, RunRecord, RunStore, default_db_path
from recsys_core.split import split_label

# Stage outputs every model of a dataset shares and that may take long to rebuild (an
# Amazon parse): deleting a run keeps them; they go when the cache is cleared.
KEPT_KINDS = ("dataset", "split")

_STORES: dict[Path, RunStore] = {}
_LOCK = threading.Lock()


class ArtifactError(RuntimeError):
    """A finished run's artifact is missing or corrupt; restarting the run rebuilds it."""


def default_store() -> RunStore:
    """The store at the default path, opened once per process.

    Opening settles runs whose worker died but starts no worker: reading runs (a page
    view, ``runs`` in the CLI) never starts work. Queued runs left by a stopped app run
    at the next :func:`submit` or :func:`restart`, or when :func:`recover` is called.
    """
    path = default_db_path().expanduser().resolve()
    with _LOCK:
        if path not in _STORES:
            store = RunStore(path, recover=False)
            store.settle()
            _STORES[path] = store
        return _STORES[path]


def _store(store: RunStore | None) -> RunStore:
    return store if store is not None else default_store()


def _missing_files(store: RunStore, record: RunRecord) -> list[str]:
    """Recorded files of a job that are gone or changed size (cheap: no hashing), and,
    for a build or projection, its artifact folders no longer marked complete (a reader
    found them damaged, or they were pruned)."""
    root = artifacts.cache_root()
    found = []
    for rec in store.artifacts(record.id):
        path = root / rec.path
        if not path.is_file() or path.stat().st_size != rec.size:
            found.append(rec.path)
    if record.kind != MODEL:
        from recsys_core.jobs.runners import expected_dirs

        for folder in expected_dirs(record.kind, record.spec):
            if not (folder / artifacts.DONE_MARKER).exists():
                found.append(artifacts.relative(folder) + "/")
    return found


def submit(spec: Any, store: RunStore | None = None) -> int:
    """Queue a job of ``spec`` and return its id; a worker process executes it.

    ``spec`` is a :class:`~recsys_core.pipeline.RunSpec` (or a JSON-able dict for a
    custom runner), or a :class:`~.tasks.BuildSpec` / :class:`~.tasks.ProjectionSpec`.
    When a job with the same settings is queued, running or finished, that job's id
    comes back instead; a finished one whose files vanished is marked failed and
    submitted anew.
    """
    store = _store(store)
    sub = submission(spec)
    existing = store.find_live(sub.key)
    if existing is not None and existing.status == "finished":
        gone = _missing_files(store, existing)
        if gone:
            store.mark(
                existing.id,
                "failed",
                f"artifacts missing or truncated ({', '.join(gone[:3])}); submitted again",
            )
    run_id, _ = store.enqueue(sub.spec, sub.key, sub.model, sub.dataset, sub.kind)
    if store.get(run_id).status == "queued" and store.workers_needed():
        store.start_worker()
    return run_id


def warm_up(store: RunStore | None = None) -> bool:
    """Have a worker ready: it imports the model stack now and waits for runs.

    A fresh worker spends seconds importing torch and gensim before its first run; a
    page that offers training can call this when it renders (cheap when a worker is
    idle already), so the user's first run starts at once. The worker leaves after
    ``RECSYS_WORKER_LINGER`` idle seconds. Returns True when it started one.
    """
    return _store(store).warm_up()


def get_run(run_id: int, store: RunStore | None = None) -> RunRecord:
    """The run ``run_id`` (KeyError if there is none)."""
    return _store(store).get(run_id)


def list_runs(
    status: str | None = None, store: RunStore | None = None, kind: str | None = MODEL
) -> list[RunRecord]:
    """Model runs, newest first; ``status`` keeps only queued/running/finished/... ones.

    ``kind`` picks another kind of job ("build", "projection"), or every job with None
    (what queue caps and job lists count). The default keeps run pickers, comparisons
    and studies to runs that have an outcome.
    """
    return _store(store).list(status, kind)


def latest(key: str, store: RunStore | None = None) -> RunRecord | None:
    """The newest job with settings key ``key`` (``spec.key()``), whatever its status."""
    return _store(store).latest(key)


def metrics(run_id: int, since_step: int = -1, store: RunStore | None = None) -> Any:
    """Training metrics of a run after step ``since_step``, as a DataFrame.

    Columns: step, epoch, loss, auc, auc_seen, lr, elapsed, epoch_end (bool). AUC columns
    are NaN between evaluations.
    """
    import pandas as pd

    rows = _store(store).metric_rows(run_id, since_step)
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(METRIC_COLUMNS))
    frame = frame.astype(
        {
            "step": "int64",
            "epoch": "int64",
            "loss": "float64",
            "auc": "float64",
            "auc_seen": "float64",
            "lr": "float64",
            "elapsed": "float64",
        }
    )
    frame["epoch_end"] = frame["epoch_end"].astype(bool)
    return frame


def cancel(run_id: int, store: RunStore | None = None) -> str:
    """Cancel a run in any phase; returns its status right after the request.

    A queued run is ``cancelled`` at once; a running one within a second or two (its
    worker polls the run's cancel flag twice a second and stops at its next progress
    report or training event); a ``stuck`` one at once, by killing its worker; a
    finished or failed run is left as it is.
    """
    return _store(store).request_cancel(run_id)


def wait(
    run_id: int, timeout: float | None = None, poll: float = 0.2, store: RunStore | None = None
) -> RunRecord:
    """Block until the run is no longer queued or running (or ``timeout`` passes)."""
    store = _store(store)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        record = store.get(run_id)
        if not record.active or (deadline is not None and time.monotonic() > deadline):
            return record
        time.sleep(poll)


def restart(run_id: int, store: RunStore | None = None) -> int:
    """Submit an interrupted, failed or cancelled run's settings again; returns the new id.

    Stages whose artifacts are intact (dataset, split, walks) are reused. A queued,
    running or finished run is returned as it is.
    """
    store = _store(store)
    record = store.get(run_id)
    if record.status in ("queued", "running", "finished"):
        return record.id
    new_id, _ = store.enqueue(record.spec, record.key, record.model, record.dataset, record.kind)
    if store.get(new_id).status == "queued" and store.workers_needed():
        store.start_worker()
    return new_id


def delete(run_id: int, store: RunStore | None = None, timeout: float = 10.0) -> list[str]:
    """Delete a run with its metrics, and free its artifacts no other run uses.

    A queued or running run is cancelled first (waiting up to ``timeout`` seconds).
    Dataset and split artifacts are kept (see ``KEPT_KINDS``). Returns the artifact
    folders freed on disk.
    """
    store = _store(store)
    record = store.get(run_id)
    if record.active:
        store.request_cancel(run_id)
        record = wait(run_id, timeout=timeout, store=store)
        if record.active:
            raise TimeoutError(f"run {run_id} did not stop within {timeout:g} s; try again")
    freed = []
    for folder in store.delete(run_id):
        if folder.split("/")[0] not in KEPT_KINDS:
            artifacts.free(folder)
            freed.append(folder)
    return freed


def verify(
    run_id: int, store: RunStore | None = None, kinds: Iterable[str] | None = None
) -> list[str]:
    """Problems with a run's recorded artifact files (empty when all are intact).

    ``kinds`` limits the check to artifact kinds (e.g. ``["run"]``).
    """
    records = _store(store).artifacts(run_id)
    if kinds is not None:
        wanted = set(kinds)
        records = [r for r in records if r.folder.split("/")[0] in wanted]
    return artifacts.problems(records)


def _corrupt(store: RunStore, record: RunRecord, found: list[str]) -> ArtifactError:
    folders = sorted({"/".join(p.split(":")[0].split("/")[:2]) for p in found})
    for folder in folders:
        artifacts.invalidate(folder)
    reason = (
        f"artifact corrupt or missing ({'; '.join(found[:3])}); "
        f"restart run {record.id} to rebuild it (intact stages are reused)."
    )
    store.mark(record.id, "failed", reason)
    return ArtifactError(f"run {record.id}: {reason}")


def load_outcome(run_id: int, store: RunStore | None = None, mmap: bool = False) -> Any:
    """The :class:`~recsys_core.pipeline.RunOutcome` of a finished run, from its artifacts.

    Raises
    ------
    ValueError
        The run is not finished.
    ArtifactError
        A file of the run is missing or differs from its recorded checksum; the run is
        now ``failed`` and :func:`restart` rebuilds it.
    """
    from recsys_core.common import cache
    from recsys_core.pipeline import load_outcome_files

    store = _store(store)
    record = store.get(run_id)
    if record.status != "finished":
        hint = f": {record.error.splitlines()[0]}" if record.error else ""
        raise ValueError(f"run {run_id} is {record.status}{hint}; only finished runs have results")
    if "run" not in record.keys:
        raise ValueError(f"run {run_id} was not produced by the pipeline; it has no outcome")
    found = verify(run_id, store, kinds=["run"])
    folder = cache.artifact_dir("run", record.keys["run"])
    problem = cache.artifact_problem(folder)
    if problem is not None and not found:
        found = [f"{artifacts.relative(folder)}: {problem}"]
    if found:
        raise _corrupt(store, record, found)
    spec = record.run_spec()
    try:
        return load_outcome_files(folder, spec, dict(record.keys), {"run": True}, mmap=mmap)
    except Exception as exc:  # any unreadable file: the run is rebuilt, never half-shown
        raise _corrupt(store, record, [f"{artifacts.relative(folder)}: {exc}"]) from exc


def recover(store: RunStore | None = None) -> list[int]:
    """Mark runs whose worker died (failed / interrupted, see :mod:`.store`); start a
    worker for waiting runs. Returns the ids marked. Runs on every store open."""
    return _store(store).recover()


def _split_fields(spec: dict[str, Any]) -> dict[str, str]:
    split = (spec or {}).get("split") or {}
    return {
        "strategy": str(split.get("strategy", "random")),
        "time_scope": str(split.get("time_scope", "user")),
    }


def compare(run_ids: Iterable[int], store: RunStore | None = None) -> Any:
    """A results table across runs: one row per run.

    Columns: run, model, dataset, split (how pairs were held out), status; the ranking
    metrics led by NDCG@k and HitRate@k with their 95% intervals (``NDCG@10 low`` /
    ``high``), then Recall@k, MRR, the same at the wide cut-off, coverage and popularity of
    the top-10 lists; AUC all, AUC seen, AUC unseen; train s; ranked among ("all
    products", or the candidate sample of a catalog above the exact-ranking limit); then
    the model settings that were set (``model_params``). A run evaluated before the
    intervals existed shows its HitRate@k and NDCG@k only.
    """
    import pandas as pd

    from recsys_core.evaluation.report import metric_label, ranking_order

    store = _store(store)
    rows = []
    for run_id in run_ids:
        rec = store.get(run_id)
        s = rec.summary or {}
        k = s.get("k", 10)
        old = {f"hit_rate@{k}": s.get("hit_rate"), f"ndcg@{k}": s.get("ndcg")}
        row: dict[str, Any] = {
            "run": rec.id,
            "model": rec.model,
            "dataset": rec.dataset,
            "split": split_label(**_split_fields(rec.spec)),
            "status": rec.status,
        }
        for name in ranking_order(k, s.get("k_wide", 50)):
            label = metric_label(name)
            row[label] = s.get(name, old.get(name))
            if name in old:
                row[f"{label} low"] = s.get(f"{name}_low")
                row[f"{label} high"] = s.get(f"{name}_high")
        row |= {
            "AUC all": s.get("auc_all"),
            "AUC seen": s.get("auc_seen"),
            "AUC unseen": s.get("auc_unseen"),
            "train s": s.get("train_seconds"),
            "ranked among": s.get("ranking_candidates") or "all products",
        }
        for name, value in rec.spec.get("model_params", ()) or ():
            row[str(name)] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    ranked = ("NDCG", "HitRate", "Recall", "MRR", "Coverage", "Popularity")
    numeric = [c for c in frame.columns if c.startswith(("AUC", "train", *ranked))]
    for col in numeric:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame
