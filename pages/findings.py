"""Findings: each open question of the method as a one-click study with a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from recsys_core.common.settings import SettingsError, stable_hash
from recsys_core.studies import all_studies
from recsys_core.studies import framework as fw
from ui import cached, jobgate, runs
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

EVALUATE = Path(__file__).resolve().parent / "evaluate.py"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
USER_ERRORS = (SettingsError, ValueError, FileNotFoundError, KeyError, RuntimeError)


def jobs() -> Any:
    import recsys_core.jobs as jobs_module

    return jobs_module


# -- figures --------------------------------------------------------------------------------


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.25, "yanchor": "top", "x": 0},
    )
    return fig


def bars_figure(result: fw.StudyResult, metric: str) -> go.Figure:
    """Each arm's mean with an error bar, one panel per dataset: the 95% interval over
    seeds and queries for the ranking metrics, the range over seeds for the others."""
    cells = pd.DataFrame([c for c in result.cells if c["metric"] == metric])
    label = fw.METRICS[metric][0]
    if cells.empty:
        return _layout(go.Figure(), f"{label}: no figures")
    interval = {"low", "high"} <= set(cells.columns) and cells["low"].notna().any()
    datasets = list(dict.fromkeys(cells["dataset"]))
    fig = make_subplots(
        rows=1, cols=len(datasets), subplot_titles=[fw.dataset_label(d) for d in datasets]
    )
    protocols = list(dict.fromkeys(cells["protocol"]))
    if not fw.METRICS[metric][2]:
        protocols = protocols[:1]
    for j, protocol in enumerate(protocols):
        for i, dataset in enumerate(datasets):
            part = cells[(cells["dataset"] == dataset) & (cells["protocol"] == protocol)]
            part = part[part["mean"].notna()]
            if interval:
                low, high = part["mean"] - part["low"], part["high"] - part["mean"]
            else:
                seen = part["values"].map(lambda v: [x for x in v if x is not None])
                low, high = part["mean"] - seen.map(min), seen.map(max) - part["mean"]
            fig.add_trace(
                go.Bar(
                    x=part["arm"],
                    y=part["mean"],
                    name=protocol if fw.METRICS[metric][2] else label,
                    legendgroup=protocol,
                    showlegend=i == 0,
                    marker_color=PALETTE[j % len(PALETTE)],
                    error_y={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
                    hovertemplate="%{x}: %{y:.4f}<extra>" + protocol + "</extra>",
                ),
                row=1,
                col=i + 1,
            )
    if metric.startswith("auc"):
        fig.update_yaxes(range=[0.4, 1.0])
    fig.update_yaxes(title_text=label, col=1)
    fig.update_layout(barmode="group")
    bar = "95% interval over seeds and queries" if interval else "range over seeds"
    return _layout(fig, f"{label}: mean over {result.seeds} seeds, bar = {bar}")


def curves_figure(result: fw.StudyResult) -> go.Figure:
    """Live AUC over steps (seed 0), epoch ends (where cosine schedules restart) dashed."""
    frame = pd.DataFrame(result.curves)
    if frame.empty:
        return _layout(go.Figure(), "Live AUC: no curves")
    dataset = frame["dataset"].iloc[0]
    frame = frame[frame["dataset"] == dataset]
    fig = go.Figure()
    for i, (arm, part) in enumerate(frame.groupby("arm", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["auc"],
                name=arm,
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    for step in sorted(set(frame.loc[frame["restart"], "step"]))[:-1]:
        fig.add_vline(x=step, line_dash="dash", line_color="#999")
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="live AUC (validation monitor)")
    return _layout(
        fig, f"Live AUC over steps, {fw.dataset_label(dataset)}, seed 0; dashed: restarts"
    )


def buckets_figure(result: fw.StudyResult) -> go.Figure | None:
    """AUC per degree bucket of the pair (seed 0, first dataset, each protocol)."""
    frame = pd.DataFrame(result.buckets)
    if frame.empty or "auc" not in frame:
        return None
    dataset = frame["dataset"].iloc[0]
    frame = frame[frame["dataset"] == dataset]
    protocols = list(dict.fromkeys(frame["protocol"]))
    fig = make_subplots(rows=1, cols=len(protocols), subplot_titles=protocols)
    for j, protocol in enumerate(protocols):
        part = frame[frame["protocol"] == protocol]
        for i, (arm, rows) in enumerate(part.groupby("arm", sort=False)):
            fig.add_trace(
                go.Bar(
                    x=rows["bucket"].astype(str),
                    y=rows["auc"],
                    name=arm,
                    legendgroup=arm,
                    showlegend=j == 0,
                    marker_color=PALETTE[i % len(PALETTE)],
                ),
                row=1,
                col=j + 1,
            )
    fig.update_yaxes(title_text="AUC", col=1)
    fig.update_xaxes(title_text="degree bucket of the pair")
    fig.update_layout(barmode="group")
    return _layout(fig, f"AUC per degree bucket, {fw.dataset_label(dataset)}, seed 0")


def figures(study: fw.Study, result: fw.StudyResult) -> list[go.Figure]:
    out = []
    if study.figure == "curves":
        out.append(curves_figure(result))
    if study.figure == "buckets":
        fig = buckets_figure(result)
        if fig is not None:
            out.append(fig)
    ranked = [m for m in fw.RANKING_VERDICTS if any(c["metric"] == m for c in result.cells)]
    # the ranking leads, the method's AUC (the study's own metrics) follows
    out += [bars_figure(result, metric) for metric in fw.ranking_first([*ranked, *study.metrics])]
    return out


# -- study state ----------------------------------------------------------------------------


def result_of(study: fw.Study, trials: list, records: dict, notes: list, products: int) -> Any:
    """The scored result of a study whose runs all finished (kept in memory)."""
    key = stable_hash(
        {"study": study.name, "runs": sorted((k, r.id) for k, r in records.items()),
         "version": fw.SCORE_VERSION, "products": products}
    )  # fmt: skip
    return cached.memo(
        "study", key, lambda: fw.collect_finished(study, trials, records, notes, products)
    )


SHIPPED = Path(__file__).resolve().parents[1] / "bench" / "results" / "findings"


def shipped_result(study: fw.Study) -> fw.StudyResult | None:
    """The verdicts this repository ships for ``study`` (``bench/results/findings``)."""
    return cached.memo("shipped", study.name, lambda: _read_shipped(study.name))


def _read_shipped(name: str) -> fw.StudyResult | None:
    try:
        return fw.StudyResult.from_dict(json.loads((SHIPPED / f"{name}.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def shipped_note(result: fw.StudyResult) -> str:
    return (
        f"Shipped result (bench/results/findings/{result.study}.json: "
        f"{', '.join(fw.dataset_label(d) for d in result.datasets)}, {result.products:,} "
        f"products, {result.seeds} seeds), not yet run on this server. Run the study to "
        "recompute it here."
    )


def verdict_table(result: fw.StudyResult) -> pd.DataFrame:
    return pd.DataFrame(result.summary_rows()).drop(columns=["study"])


def evaluate_links(study: fw.Study, trials: list, records: dict, key: str) -> None:
    """One link per dataset to the Evaluate page with the seed-0 run of each arm."""
    for dataset in dict.fromkeys(t.dataset for t in trials):
        ids = list(
            dict.fromkeys(
                records[t.spec.key()].id
                for t in trials
                if t.dataset == dataset and t.seed == 0 and t.spec.key() in records
            )
        )
        if ids:
            st.page_link(
                EVALUATE,
                label=f"Open these runs on Evaluate ({fw.dataset_label(dataset)}, seed 0)",
                query_params={"runs": ",".join(str(i) for i in ids)},
            )


def arm_progress(trials: list, records: dict) -> pd.DataFrame:
    """Per arm and dataset: how many of its seeds finished, and the running one's stage."""
    rows = []
    for (dataset, arm), group in pd.DataFrame(
        [{"dataset": t.dataset, "arm": t.arm, "key": t.spec.key()} for t in trials]
    ).groupby(["dataset", "arm"], sort=False):
        found = [records.get(k) for k in group["key"]]
        done = sum(r is not None and r.status == "finished" for r in found)
        running = [r for r in found if r is not None and r.status == "running"]
        rows.append(
            {
                "dataset": fw.dataset_label(dataset),
                "arm": arm,
                "seeds finished": f"{done} of {len(found)}",
                "running": ", ".join(
                    f"{r.progress_message or 'starting'} ({float(r.progress or 0):.0%})"
                    for r in running
                ),
            }
        )
    return pd.DataFrame(rows)


def card(study: fw.Study, size: dict) -> None:
    """One study: question, run/rerun, live progress, figure, verdicts, Evaluate link."""
    try:
        trials, notes = fw.plan(study, size["datasets"], size["seeds"], size["products"])
    except USER_ERRORS as exc:
        st.error(f"{study.title}: {exc}")
        return
    with st.container(border=True):
        st.subheader(study.title)
        st.markdown(f"**{study.question}**")
        st.caption(
            f"{len(fw.unique_specs(trials))} runs: {len(study.arms)} arms × "
            f"{len({t.dataset for t in trials})} dataset(s) × {size['seeds']} seeds; "
            f"{study.sizes}."
        )
        for note in notes:
            st.caption(note)
        if not trials:
            st.info("Nothing to run on the chosen datasets.")
            return
        records = fw.find_runs(trials)
        active = any(r.active for r in records.values())

        @st.fragment(run_every=2.0 if active else None)
        def body(was_active: bool) -> None:
            records = fw.find_runs(trials)
            state = fw.progress_of(trials, records)
            counts = state["counts"]
            finished = counts.get("finished", 0) == state["runs"]
            now_active = any(r.active for r in records.values())
            key = f"findings.{study.name}"
            if finished:
                left, right = st.columns([3, 1])
                left.success("Already run: every run of this study finished.")
                if right.button("Rerun", key=f"{key}.rerun", help="Delete this study's runs "
                                "and train them again (use after a code change)."):  # fmt: skip
                    problem = jobgate.queue_problem(jobs(), adding=state["runs"])
                    if problem:
                        st.warning(problem)
                    else:
                        fw.forget_runs(records.values())
                        for run_id in fw.submit(trials, jobs().submit).values():
                            jobgate.remember(run_id)
                        st.rerun()
            elif now_active:
                st.progress(
                    state["fraction"],
                    text=f"{counts.get('finished', 0)} of {state['runs']} runs finished · "
                    + ", ".join(f"{n} {s}" for s, n in counts.items() if s != "finished"),
                )
                st.dataframe(arm_progress(trials, records), hide_index=True)
            else:
                failed = [r for r in records.values() if r.status != "finished"]
                label = "Run" if not records else "Run the rest"
                todo = state["runs"] - counts.get("finished", 0)
                if st.button(label, key=f"{key}.run", type="primary"):
                    problem = jobgate.queue_problem(jobs(), adding=todo)
                    try:
                        if problem:
                            st.warning(problem)
                        else:
                            for record in failed:
                                jobgate.remember(jobs().restart(record.id))
                            for run_id in fw.submit(trials, jobs().submit).values():
                                jobgate.remember(run_id)
                    except USER_ERRORS as exc:
                        st.error(f"Could not start the runs: {exc}")
                    else:
                        if not problem:
                            st.rerun()
                st.caption(f"{todo} run(s) to train on this server's workers.")
                for record in failed[:3]:
                    runs.show_failure(record)  # one sentence; the traceback in an expander
                shipped = shipped_result(study)
                if shipped is not None:
                    st.caption(shipped_note(shipped))
                    for i, fig in enumerate(figures(study, shipped)):
                        st.plotly_chart(fig, key=f"{key}.shipped.fig{i}")
                    st.dataframe(
                        verdict_table(shipped), hide_index=True, key=f"{key}.shipped.verdicts"
                    )
                    st.caption(f"What it means: {study.meaning}")
            if finished:
                try:
                    result = result_of(study, trials, records, notes, size["products"])
                except USER_ERRORS as exc:
                    st.error(f"Could not score the runs: {exc}")
                    return
                for i, fig in enumerate(figures(study, result)):
                    st.plotly_chart(fig, key=f"{key}.fig{i}")
                st.dataframe(verdict_table(result), hide_index=True, key=f"{key}.verdicts")
                st.caption(f"What it means: {study.meaning}")
                evaluate_links(study, trials, records, key)
            if was_active and not now_active:
                st.rerun()

        body(active)


def lead_verdicts(study: fw.Study, result: fw.StudyResult) -> list[dict]:
    """The verdicts that stand for a study in the summary: on NDCG@10 where the study has
    it (top-10 lists, judged once: ranking has no negatives), else on its first metric."""
    lead = fw.ranking_first([*(v["metric"] for v in result.verdicts), study.metrics[0]])[0]
    return [v for v in result.distinct_verdicts() if v["metric"] == lead]


def summary(studies: dict, size: dict) -> pd.DataFrame:
    """One row per study, dataset and protocol: its lead verdict (:func:`lead_verdicts`)."""
    rows = []
    for study in studies.values():
        try:
            trials, notes = fw.plan(study, size["datasets"], size["seeds"], size["products"])
        except USER_ERRORS:
            continue
        records = fw.find_runs(trials)
        state = fw.progress_of(trials, records)
        if trials and state["counts"].get("finished", 0) == state["runs"]:
            try:
                result = result_of(study, trials, records, notes, size["products"])
            except USER_ERRORS as exc:
                rows.append({"study": study.title, "verdict": f"could not score: {exc}"})
                continue
            rows += [_summary_row(study, v) for v in lead_verdicts(study, result)]
        elif (shipped := shipped_result(study)) is not None:
            rows += [
                _summary_row(study, v, " (shipped result)") for v in lead_verdicts(study, shipped)
            ]
        else:
            done = state["counts"].get("finished", 0)
            rows.append(
                {
                    "study": study.title,
                    "verdict": f"not run yet ({done} of {state['runs']} runs finished)",
                }
            )
    return pd.DataFrame(rows, columns=["study", "dataset", "metric", "protocol", "verdict"])


def _summary_row(study: fw.Study, verdict: dict, mark: str = "") -> dict:
    label, _, by_protocol = fw.METRICS[verdict["metric"]]
    return {
        "study": study.title,
        "dataset": fw.dataset_label(verdict["dataset"]),
        "metric": label,
        "protocol": verdict["protocol"] if by_protocol else "any",
        "verdict": verdict["sentence"] + mark,
    }


# -- page -----------------------------------------------------------------------------------

st.title("Findings")
st.markdown(
    "Each open question of the method as a small study: arms that differ in one thing, "
    "run with several seeds on the built-in catalog (and MovieLens-100k once fetched), "
    "scored on the test pairs. **Recommendations first**: each arm's top-10 lists over "
    "the whole catalog (NDCG@10, HitRate@10), where a verdict names a direction only when "
    "the 95% interval of the paired difference (over seeds and queries) excludes 0. The "
    "method's AUC follows, under **uniform** negatives (the method's) and "
    "**degree-matched** negatives (popularity controlled), with a direction only when the "
    "difference exceeds the spread across seeds. Otherwise a verdict says *no clear "
    "difference*."
)
studies, problems = all_studies()
with st.expander("Study size", expanded=False):
    c1, c2, c3 = st.columns(3)
    products = c1.number_input(
        "built-in catalog products", 200, 50_000, fw.DEFAULT_PRODUCTS, 500, key="findings.products"
    )
    seeds = c2.number_input("seeds", 1, 10, fw.DEFAULT_SEEDS, key="findings.seeds")
    datasets = c3.multiselect(
        "datasets",
        list(fw.DEFAULT_DATASETS),
        default=list(fw.DEFAULT_DATASETS),
        format_func=fw.dataset_label,
        key="findings.datasets",
    )
    st.caption("Runs are shared: a study run again at the same size reuses finished runs.")
size = {"products": int(products), "seeds": int(seeds), "datasets": datasets or ["builtin"]}

st.subheader("All verdicts")
fmt_table = summary(studies, size).astype(object).fillna("—")
st.dataframe(fmt_table, hide_index=True, key="findings.summary")
for module, problem in problems.items():
    st.caption(f"Study {module} is not available: {problem}")
for study in studies.values():
    card(study, size)
