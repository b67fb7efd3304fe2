"""Tune: search a model's settings on validation (Optuna), read test once at the end."""

from __future__ import annotations

import streamlit as st

from recsys_core.common.settings import SettingsError
from recsys_core.pipeline import RunSpec
from recsys_core.tuning import METRICS, space_for, study_name, tunable_models
from recsys_core.tuning.studies import METRIC_LABELS
from ui import datasets, tune
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Tune")
st.markdown(
    "Searches a model's settings with Optuna (TPE). Every trial is an ordinary run, "
    "listed with the others, that is evaluated on the **validation** part; a trial whose "
    "per-epoch validation metric falls below the median of earlier trials is stopped "
    "(pruned, cancelled in the run list). When the trials are done, the best settings are "
    "evaluated **once on test**: no choice here ever reads a test label."
)

dataset = tune.current_dataset()
c1, c2, c3 = st.columns(3)
models = tunable_models()
model = c1.selectbox(
    "Model", models, index=models.index("sgns") if "sgns" in models else 0, key="tune.model"
)
trials = int(
    c2.number_input("Trials", min_value=2, max_value=500, value=30, step=1, key="tune.trials")
)
metric = c3.selectbox(
    "Objective (validation)", METRICS, format_func=METRIC_LABELS.get, key="tune.metric"
)
try:
    base = RunSpec.create(model, dataset=dataset)
    base.validate()
    name = study_name(base, metric)
    st.caption(
        f"On {datasets.shown_dataset(dataset)} · searched: "
        + "; ".join(p.describe() for p in space_for(model))
    )
except (SettingsError, ValueError) as exc:
    st.error(f"Cannot tune this: {exc}")
    st.stop()

job = tune.job(name)
running = bool(job and job["running"])
b1, b2 = st.columns(2)
st.caption(tune.estimate(tune.study_or_none(name), trials))
if b1.button("Start tune", key="tune.start", type="primary", disabled=running):
    tune.start(name, dataset, model, trials, metric)
    st.rerun()
if running and b2.button("Stop tune", key="tune.stop"):
    tune.stop(name)
    st.rerun()


@st.fragment(run_every=2.0 if running else None)
def progress(study_name_: str, was_running: bool) -> None:
    current = tune.job(study_name_)
    if was_running and not (current and current["running"]):
        st.rerun()  # the tune ended: redraw the page once, buttons included
    study = tune.study_or_none(study_name_)
    if study is None:
        if current and not current["running"] and current["tail"]:
            st.error("The tune ended without a trial:\n\n```\n" + current["tail"] + "\n```")
        else:
            st.info("No trial yet: **Start tune** searches this model on this dataset.")
        return
    n = tune.counts(study)
    state = "running" if current and current["running"] else "stopped"
    st.caption(
        f"Study `{study_name_}` ({state}): {n['complete']} trials finished, "
        f"{n['pruned']} pruned, {n['failed']} failed, {n['running']} running."
    )
    for title, fig, why in tune.figures(study):
        st.subheader(title)
        if fig is None:
            st.caption(f"Not yet: {why}.")
        else:
            st.plotly_chart(fig, key=f"tune.{title}")
    chosen = tune.chosen(study)
    if chosen is not None:
        table, caption = chosen
        st.subheader("The chosen settings, on validation and on test")
        st.table(table)
        st.caption(caption)
    with st.expander("Trials"):
        st.dataframe(tune.trials_frame(study), hide_index=True)


progress(name, running)
