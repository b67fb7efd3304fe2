"""The app's view of the job store: runs of the current dataset, their outcomes and indexes.

The job store (SQLite, next to the artifact cache) is the source of truth: a page
re-reads it on every rerun, so a browser refresh reattaches to whatever is running.
What runs anywhere, on any dataset, is shown with Cancel in the sidebar of every page
(:func:`draw_running_anywhere`); a failed run shows one sentence with its cause, and its
traceback only inside an expander (:func:`show_failure`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from recsys_core.models.registry import BASELINES
from ui import cached, datasets, jobgate, url

TRAIN_PAGE = Path(__file__).resolve().parents[1] / "pages" / "train.py"

# Material icons for markdown; pickers show plain words (headless browsers and some
# systems have no emoji font).
STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/directions_run:",
    "finished": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "interrupted": ":material/warning:",
}


def jobs() -> Any:
    import recsys_core.jobs as jobs_module

    return jobs_module


def runs_of(prep: Any, statuses: tuple[str, ...] | None = None) -> list[Any]:
    """Runs on the prepared dataset (newest first), optionally only with these statuses."""
    out = []
    for record in jobs().list_runs():
        dataset_key = (record.keys or {}).get("dataset")
        if dataset_key is not None and dataset_key != prep.dataset_key:
            continue
        if dataset_key is None and not _same_dataset(record, prep):
            continue
        if statuses and record.status not in statuses:
            continue
        out.append(record)
    return sorted(out, key=lambda r: -r.id)


def _same_dataset(record: Any, prep: Any) -> bool:
    try:
        return record.run_spec().dataset.key() == prep.dataset_key
    except Exception:
        return False


def label(record: Any, status: bool = True) -> str:
    """``#12 sgns · finished NDCG@10 0.279 (epochs=2)``: how a run is named in pickers
    (the ranking leads; AUC where a run has no ranking figure).

    ``status=False`` leaves the status out (pickers that only list finished runs).
    """
    text = f"#{record.id} {record.model}" + (f" · {record.status}" if status else "")
    summary = record.summary or {}
    ndcg = summary.get("ndcg@10", summary.get("ndcg"))
    if ndcg is not None:
        text += f" NDCG@10 {ndcg:.3f}"
    elif summary.get("auc_all") is not None:
        text += f" AUC {summary['auc_all']:.3f}"
    params = dict(record.spec.get("model_params") or [])
    if params:
        text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(params.items())[:3]) + ")"
    return text


def short_label(record: Any) -> str:
    """``#12 sgns``: how a run is named in chart legends."""
    return f"#{record.id} {record.model}"


def table(records: list[Any]) -> pd.DataFrame:
    rows = []
    for r in records:
        summary = r.summary or {}
        rows.append(
            {
                "run": r.id,
                "model": r.model,
                "status": r.status,
                # A number in every row: the progress bar column cannot draw a gap.
                "progress": 1.0 if r.status == "finished" else float(r.progress or 0.0),
                "stage": r.progress_message if r.active else "",
                "AUC all": summary.get("auc_all"),
                "AUC seen": summary.get("auc_seen"),
                "started": dt.datetime.fromtimestamp(r.created).strftime("%H:%M:%S"),
                "seconds": round(r.duration, 1) if r.duration is not None else None,
                "error": failure(r)[0] if r.status == "failed" else (r.error or "")[:200],
            }
        )
    return pd.DataFrame(rows)


def outcome(record: Any) -> Any:
    """The finished run's RunOutcome (embeddings, evaluation, events), memory-mapped and
    kept under the server's outcome budget (``ui/cached.py``)."""
    return cached.memo(
        "outcome", record.key, lambda: jobs().load_outcome(record.id, mmap=True), resident_bytes
    )


def file_backed(array: np.ndarray) -> bool:
    """Whether ``array`` is (a view of) a memory-mapped file, read from disk on use."""
    import mmap

    base: Any = array
    while base is not None:
        if isinstance(base, np.memmap | mmap.mmap):
            return True
        base = getattr(base, "base", None)
    return False


def resident_bytes(outcome: Any) -> int:
    """Bytes an outcome holds in memory: its arrays not mapped from disk, and its curves."""
    total = 0
    emb = outcome.embeddings
    for value in vars(emb).values():
        if isinstance(value, np.ndarray) and not file_backed(value):
            total += value.nbytes
    for frame in (outcome.evaluation.curves or {}).values():
        total += int(frame.memory_usage(index=False).sum())
    return total


def neighbour_index(record: Any, mode: str = "recommend") -> Any:
    """The run's neighbour index: "recommend" ranks by the model's own rule, "similar" by
    cosine of its vectors (recsys_core.explore.similar.NEIGHBOUR_MODES)."""
    from recsys_core.explore.similar import NeighbourIndex

    def build() -> Any:
        emb = outcome(record).embeddings
        return NeighbourIndex.from_embeddings(emb, emb.usable, mode)

    return cached.memo(f"index.{mode}", record.key, build)


def default_watch(records: list[Any], linked: str | None = None) -> int | None:
    """The run the Train page opens on: the one the URL names (any status), else the newest
    running or queued, else the newest finished. Never a failed run by default: a new
    visitor should not meet someone else's error.
    """
    by_id = {r.id: r for r in records}
    if linked and linked.strip().isdigit() and int(linked) in by_id:
        return int(linked)
    for wanted in (lambda r: r.active, lambda r: r.status == "finished"):
        found = [r.id for r in records if wanted(r)]
        if found:
            return max(found)
    return None


def unknown_link_note(key: str, text: str | None, known: dict[int, Any], opened: str) -> str:
    """One sentence when the URL's ``key`` names runs not among ``known``, else ""."""
    if not text:
        return ""
    bad = [t.strip() for t in text.split(",") if not t.strip().isdigit() or int(t) not in known]
    if not bad:
        return ""
    return (
        f"{key}={text} names no finished run on this dataset here "
        f"({', '.join(bad)}); {opened} is open instead."
    )


def pick_finished(
    prep: Any,
    key: str,
    multiple: bool = False,
    max_default: int = 3,
    candidates: list[Any] | None = None,
) -> list[Any]:
    """Select box (or multiselect) of the finished runs on this dataset.

    Starts on the runs named in the URL (``runs=3,5``) or picked on another page, else
    the newest; writes the choice back to the URL. A comparison holds runs of one split
    only (their AUCs are measured on different pairs otherwise); ``candidates`` narrows
    the offer further (the Evaluate page offers only runs on the same pairs).
    """
    # Trained runs first, so defaults never pick the no-training baselines' display vectors.
    finished = sorted(
        runs_of(prep, ("finished",)) if candidates is None else candidates,
        key=lambda r: r.model in BASELINES,
    )

    def name(run_id: int) -> str:
        return label(by_id[run_id], status=False)

    by_id = {r.id: r for r in finished}
    linked_text = url.url_value("runs")
    if not finished:
        if key not in st.session_state:
            note = unknown_link_note("runs", linked_text, by_id, "no run")
            if note:
                st.warning(note)
        st.info("No finished run on this dataset yet: start one on the **Train** page.")
        return []
    linked = [int(t) for t in (linked_text or "").split(",") if t.strip().isdigit()]
    linked = [i for i in linked if i in by_id]
    if key not in st.session_state:
        note = unknown_link_note("runs", linked_text, by_id, "the newest finished run")
        if note:
            st.warning(note)
    if multiple:
        limit = max_default if max_default else None
        default = linked[:limit] if linked else list(by_id)[:max_default]
        # The user's last choice, kept apart from the widget: Streamlit can drop a
        # multiselect's value between reruns (a rerun started inside a fragment, such as
        # the running-jobs panel's, or labels that changed), which would empty the box
        # and every view below it. Restored unless the user changed the box themselves.
        kept = f"{key}.kept"

        def remember() -> None:
            st.session_state[kept] = list(st.session_state.get(key) or [])

        if key not in st.session_state:  # a new view of this page: the link, or the newest
            st.session_state[key] = st.session_state[kept] = default
        elif kept in st.session_state and st.session_state[key] != st.session_state[kept]:
            wanted = [i for i in st.session_state[kept] if i in by_id]
            if not wanted and st.session_state[kept]:
                wanted = default  # every run the user picked is gone: start over
            st.session_state[key] = wanted
        chosen = st.multiselect(
            "runs",
            list(by_id),
            format_func=name,
            key=key,
            max_selections=limit,
            on_change=remember,
        )
        picked = [by_id[i] for i in chosen]
        splits = {r.keys.get("split") for r in picked}
        if len(splits) > 1:
            first = picked[0].keys.get("split")
            left_out = [r for r in picked if r.keys.get("split") != first]
            picked = [r for r in picked if r.keys.get("split") == first]
            st.warning(
                "Left out of the comparison, trained on another split of the data (their "
                "AUCs are measured on other pairs): " + ", ".join(short_label(r) for r in left_out)
            )
    else:
        if key not in st.session_state and linked:
            st.session_state[key] = linked[0]
        run_id = st.selectbox("run", list(by_id), format_func=name, key=key)
        picked = [by_id[run_id]] if run_id is not None else []
    url.url_update({"runs": ",".join(str(r.id) for r in picked) or None})
    return picked


# -- runs anywhere, failures -------------------------------------------------------------------

# The first word of a failure, and what a user can do about it.
FAILURE_HINTS = {
    "MemoryError": "The settings need more memory than this machine has: lower the vector "
    "size, the number of walks or the dataset size.",
    "Cancelled": "It was cancelled.",
    "SettingsError": "Fix the setting in the sidebar and start it again.",
    "FileNotFoundError": "A file it needs is gone: load the dataset again.",
}


def failure(record: Any) -> tuple[str, str]:
    """``(one sentence with the cause, the details)`` of a failed or stopped run.

    The worker stores ``"Type: message\\n\\nTraceback ..."``; the sentence keeps the first
    line, shortened, with a hint for the common causes; the details keep the rest.
    """
    text = (record.error or "").strip()
    if not text:
        return f"Run #{record.id} ({record.model}) {record.status}, with no message.", ""
    first, _, rest = text.partition("\n")
    kind = first.split(":", 1)[0].strip()
    cause = first if len(first) <= 240 else first[:237] + "..."
    sentence = f"Run #{record.id} ({record.model}) {record.status}: {cause}"
    hint = FAILURE_HINTS.get(kind)
    if hint:
        sentence += f" {hint}"
    return sentence, rest.strip()


def show_failure(record: Any) -> None:
    """The failure in one red sentence; the traceback, if any, inside a closed expander."""
    sentence, details = failure(record)
    st.error(sentence)
    if details:
        with st.expander("details (traceback)"):
            st.code(details, language=None)


def dataset_label(settings: Any) -> str:
    """A short name of a run's dataset: "built-in, 1,500 products", "MovieLens-100k"..."""
    if settings.source == "synthetic":
        products = settings.synthetic_settings().products
        size = "" if settings.preset == "default" else f"{settings.preset}, "
        return f"built-in, {size}{products:,} products"
    if settings.source == "movielens":
        return "MovieLens-100k"
    if settings.source in ("interactions", "pairs"):
        return datasets.shown_path(settings.path)
    return f"Amazon file {Path(settings.path or '').name}"


def _run_dataset(record: Any) -> Any:
    """The dataset settings of a model run or a build job (None for other jobs)."""
    try:
        if record.kind == "build":
            from recsys_core.jobs import BuildSpec

            return BuildSpec.from_dict(record.spec).dataset
        return record.run_spec().dataset
    except Exception:  # a spec this code cannot read, or a job of another kind
        return None


def _open_run(record_id: int, settings: Any) -> None:
    """Button callback: load the run's dataset and watch the run on the Train page."""
    if settings is not None and settings.key() != datasets.dataset_settings().key():
        datasets.switch_dataset(settings)
        # The click opens a run's own dataset: its build is what the run needs anyway.
        if not jobgate.memory_problem(datasets.build_estimate(settings)):
            datasets.allow_build(settings)
    st.session_state["train.watch"] = record_id


def draw_running_anywhere(sidebar: bool = False) -> None:
    """Jobs queued or running on any dataset, each with Cancel; model runs also with a
    way to watch them (dataset builds and projections show on the page that waits).

    In the sidebar of every page while something runs (refreshed every 2 s); on the
    Train page always (refreshed every 3 s, so a run started in another tab shows up).
    """
    where = "runs.side" if sidebar else "runs.train"  # the Train page has "train.cancel.N"
    active_now = any(r.active for r in jobs().list_runs(kind=None))
    every = (2.0 if active_now else None) if sidebar else 3.0

    @st.fragment(run_every=every)
    def panel(was_active: bool) -> None:
        records = [r for r in jobs().list_runs(kind=None) if r.active]
        if was_active and not records:
            st.rerun()  # the whole page: results appear, the refreshing stops
        if not records:
            if not sidebar:
                st.caption("Nothing is running on any dataset.")
            return
        current = datasets.dataset_settings().key()
        st.markdown(f"**Running now ({len(records)})**")
        for r in sorted(records, key=lambda r: r.id):
            settings = _run_dataset(r)
            here = settings is not None and settings.key() == current
            text = (
                f"#{r.id} {r.model} · {r.status}"
                + (f" {r.progress:.0%}" if r.status == "running" else "")
                + f" · {dataset_label(settings) if settings is not None else r.dataset}"
            )
            if sidebar:
                st.caption(text)
                cols = st.columns(2)
            else:
                cols = st.columns([4, 1, 2])
                cols[0].markdown(text + (" (this dataset)" if here else ""))
                cols = cols[1:]
            allowed = jobgate.may_change(r.id)
            if cols[0].button(
                "Cancel",
                key=f"{where}.cancel.{r.id}",
                width="stretch",
                disabled=not allowed,
                help=None if allowed else jobgate.NOT_YOURS,
            ):
                jobs().cancel(r.id)
                st.rerun()
            if r.kind != "model":
                continue  # a build or a map shows its progress on the page that waits
            watch = "Watch" if here else "Switch and watch"
            if cols[1].button(
                watch,
                key=f"{where}.watch.{r.id}",
                width="stretch",
                on_click=_open_run,
                args=(r.id, settings),
                help="Open this run on the Train page"
                + ("" if here else ", on its dataset (every page switches to it)"),
            ):
                if sidebar:
                    st.switch_page(TRAIN_PAGE)
                st.rerun()

    panel(active_now)
