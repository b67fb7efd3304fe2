"""Train: start, queue and cancel runs; live loss, AUC and learning-rate curves."""

from __future__ import annotations

import streamlit as st

from recsys_core.common.settings import SettingsError
from recsys_core.jobs import estimate
from ui import charts, datasets, fmt, jobgate, load, runs, sidebar, url
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Train")
st.markdown(
    "Runs train in background processes and are stored with their metrics, so this page "
    "can be closed or refreshed at any time: it reattaches to whatever is running. "
    "Starting settings that already finished reuses that run."
)

prep = load.prepared()
spec = sidebar.drawn_run_spec()
# Have a worker import the model stack while the user reads, so Start begins at once.
runs.jobs().warm_up()
# What runs on any dataset, with Cancel and a one-click switch to the run's dataset; drawn
# at the end (into this place) so a run started below shows up at once.
running_box = st.container()
if prep is not None:
    if spec is None:
        st.error("Fix the model settings in the sidebar to start a run.")
    else:
        params = dict(spec.model_params)
        st.markdown(
            f"**{spec.model}** on {datasets.shown_dataset(spec.dataset)}"
            + (f" · {', '.join(f'{k}={v}' for k, v in params.items())}" if params else "")
        )
        n_products, n_pairs = prep.dataset.n_products, len(prep.dataset.pairs)
        try:
            est = estimate.training_run(spec, n_products, n_pairs)
        except (SettingsError, ValueError) as exc:
            est = None
            st.error(f"Could not estimate the run: {exc}")
        if est is not None and jobgate.draw_start_button("Start training", est, "train.start"):
            try:
                started = jobgate.submit(runs.jobs(), [spec], [est])
            except (SettingsError, ValueError, OSError) as exc:
                st.error(f"Could not start the run: {exc}")
            else:
                if started:
                    st.session_state["train.watch"] = started[0]

    records = runs.runs_of(prep)
    watched = None
    linked = url.url_value("run")
    if "train.watch" not in st.session_state and linked:
        known = {r.id: r for r in records}
        if not linked.strip().isdigit() or int(linked) not in known:
            fallback = runs.default_watch(records)
            st.warning(
                f"run={linked} is not a run on this dataset here; "
                + (f"run {fallback} is open instead." if fallback else "no run is open.")
            )
    if not records:
        st.info("No run on this dataset yet: pick a model in the sidebar and click Start.")
        url.url_update({"run": None})
    else:
        by_id = {r.id: r for r in records}
        wanted = st.session_state.get("train.watch")
        if wanted not in by_id:
            wanted = runs.default_watch(records, linked)
        # The statuses are part of the key: when one changes the live part reruns the page
        # and the picker is drawn anew, so its labels never show a stale status.
        statuses = "".join(r.status[0] for r in records)
        watched = st.selectbox(
            "run to watch",
            list(by_id),
            index=list(by_id).index(wanted) if wanted in by_id else None,
            format_func=lambda i: runs.label(by_id[i]),
            key=f"train.pick.{wanted}.{statuses}",
            placeholder="pick a run to watch",
        )
        st.session_state["train.watch"] = watched
        url.url_update({"run": None if watched is None else str(watched)})
    if records and watched is not None:
        active_now = by_id[watched].active

        @st.fragment(run_every=1.0 if active_now else None)
        def live(run_id: int, was_active: bool, status_drawn: str) -> None:
            record = runs.jobs().get_run(run_id)
            if record.status != status_drawn:
                st.rerun()  # the whole page, so the picker and run list show the new status
            frame = runs.jobs().metrics(run_id)
            cols = st.columns([3, 1, 1, 1])
            with cols[0]:
                if record.active:
                    st.progress(
                        record.progress,
                        text=f"{record.status}: {record.progress_message or 'waiting'}",
                    )
                else:
                    st.markdown(f"**{runs.STATUS_ICONS.get(record.status, '')} {record.status}**")
            # The same three buttons every time (disabled when they do not apply), so a
            # refresh of the fragment never leaves a stale button on screen.
            allowed = jobgate.may_change(run_id)
            why = None if allowed else jobgate.NOT_YOURS
            if cols[1].button(
                "Cancel",
                key=f"train.cancel.{run_id}",
                disabled=not record.active or not allowed,
                help=why,
            ):
                runs.jobs().cancel(run_id)
            can_restart = record.status in ("failed", "cancelled", "interrupted") and allowed
            if cols[2].button(
                "Restart", key=f"train.restart.{run_id}", disabled=not can_restart, help=why
            ):
                problem = jobgate.queue_problem(runs.jobs())
                if problem:
                    st.warning(problem)
                else:
                    st.session_state["train.watch"] = runs.jobs().restart(run_id)
                    jobgate.remember(st.session_state["train.watch"])
                    st.rerun()
            if cols[3].button(
                "Delete",
                key=f"train.delete.{run_id}",
                disabled=record.active or not allowed,
                help=why,
            ):
                runs.jobs().delete(run_id)
                st.session_state.pop("train.watch", None)
                st.rerun()
            if record.status == "failed":
                runs.show_failure(record)
            elif record.status == "interrupted":
                st.warning(f"Run {run_id} was interrupted: {record.error or 'the app stopped'}")
            summary = record.summary or {}
            if summary.get("auc_all") is not None:
                m = st.columns(4)
                m[0].metric("AUC all", f"{summary['auc_all']:.4f}")
                m[1].metric("AUC seen", f"{summary['auc_seen']:.4f}")
                m[2].metric(f"HitRate@{summary.get('k', 10)}", f"{summary['hit_rate']:.4f}")
                m[3].metric("train seconds", f"{summary.get('train_seconds', 0):.1f}")
            if len(frame):
                restarts = frame.loc[frame["epoch_end"], "step"].tolist()
                st.plotly_chart(
                    # The last epoch end of a finished run is the end of training, not a
                    # boundary worth a line; while running every end so far is one.
                    charts.training_curves(frame, restarts if record.active else restarts[:-1]),
                    key=f"train.curves.{run_id}",
                )
                last = frame.iloc[-1]
                st.caption(
                    f"{len(frame)} reports · step {int(last['step'])} · epoch "
                    f"{int(last['epoch']) + 1} · {last['elapsed']:.1f} s · dotted lines: "
                    "epoch ends (learning-rate restarts for cosine schedules)"
                )
            elif record.active:
                st.caption("Waiting for the first training step (loading, walking)...")
            if was_active and not record.active:
                st.rerun()  # the whole page: stop refreshing, update the run list

        live(watched, active_now, by_id[watched].status)

    if records:
        # Refreshed while anything on this dataset trains, so progress and statuses move.
        @st.fragment(run_every=2.0 if any(r.active for r in records) else None)
        def run_table() -> None:
            fresh = runs.runs_of(prep)
            with st.expander(f"all runs on this dataset ({len(fresh)})"):
                fmt.show(
                    runs.table(fresh),
                    column_config={
                        "progress": st.column_config.ProgressColumn(
                            "progress", min_value=0.0, max_value=1.0
                        ),
                    },
                )

        run_table()

with running_box:
    runs.draw_running_anywhere()
