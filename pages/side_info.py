"""Side info: plain skip-gram vs equal-weighted vs learned-weight (EGES) side information."""

from __future__ import annotations

import streamlit as st

from recsys_core.common.settings import SettingsError
from recsys_core.jobs import estimate
from recsys_core.pipeline import RunSpec
from recsys_core.studies import side_info as study
from ui import charts, datasets, fmt, jobgate, load, runs, sidebar
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Side information")
st.markdown(
    "Three models on the same walks: skip-gram on product ids only, skip-gram whose "
    "product vector is the **mean** of its id and side-value embeddings (category levels, "
    "brand, price bucket), and **EGES**, which learns a weight per product and field. "
    "Side information also gives unseen products a vector (cold start)."
)
prep = load.prepared()
if prep is not None:
    base = sidebar.drawn_run_spec() or RunSpec.create("sgns", dataset=datasets.dataset_settings())
    specs = study.comparison_specs(base)
    shared = dict(specs[0].model_params)
    st.caption(
        f"On {datasets.shown_dataset(base.dataset)}"
        + (f" · {', '.join(f'{k}={v}' for k, v in sorted(shared.items()))}" if shared else "")
        + " (model settings from the sidebar, where a model has them). "
        f"{specs[0].split.holdout_products:.0%} of the products are held out as new ones "
        "(all their pairs in validation), so the unseen column measures cold start."
    )
    try:
        n_products, n_pairs = prep.dataset.n_products, len(prep.dataset.pairs)
        ests = [estimate.training_run(s, n_products, n_pairs) for s in specs]
        total = ests[0]
        for more in ests[1:]:
            total = total + more
        if jobgate.draw_start_button("Train the three models", total, "side.start"):
            jobgate.submit(runs.jobs(), specs, ests)
        sweep_specs = []
        if base.dataset.source == "synthetic":
            sweep_specs = study.coverage_specs(base)
            sweep_ests = [
                estimate.training_run(s, *estimate.dataset_size(s.dataset)) for s in sweep_specs
            ]
            sweep_total = sweep_ests[0]
            for more in sweep_ests[1:]:
                sweep_total = sweep_total + more
            if jobgate.draw_start_button(
                f"Coverage sweep ({len(sweep_specs)} runs: "
                + ", ".join(f"{c:.0%}" for c in study.COVERAGES)
                + ")",
                sweep_total,
                "side.sweep",
                help="The same three models on the built-in catalog generated at each "
                "metadata coverage (runs already trained are reused).",
                primary=False,
            ):
                jobgate.submit(runs.jobs(), sweep_specs, sweep_ests)
    except (SettingsError, ValueError, OSError) as exc:
        st.error(f"Could not start the runs: {exc}")
        sweep_specs = []

    # Cold start can only help unseen products that have some metadata: say how many.
    products = prep.dataset.products
    fields = [f for f in prep.dataset.side_fields if f in products.columns]
    has_side = products[fields].notna().any(axis=1).to_numpy() if fields else None
    # the study holds some products out as new ones: count on its own split
    study_prep = load.prepared(base.dataset, specs[0].split)
    unseen = ~(study_prep or prep).split.seen_products
    found = [r for r in study.existing_runs(specs) if r is not None]
    swept = [r for r in study.existing_runs(sweep_specs) if r is not None]
    any_active = any(r.active for r in found + swept)

    @st.fragment(run_every=2.0 if any_active else None)
    def results(ids: list[int], sweep_ids: list[int], was_active: bool) -> None:
        records = [runs.jobs().get_run(i) for i in ids]
        if not records:
            st.info("Click **Train the three models** to compare them on this dataset.")
            return
        frame = study.results_frame(records)
        shown, flagged = fmt.flag_aucs(
            frame.drop(columns=["method"]), ["AUC all", "AUC seen", "AUC unseen"]
        )
        fmt.show(shown, formats={"coverage": "{:.0%}"})
        if flagged:
            st.warning(fmt.BELOW_CHANCE_NOTE)
        if has_side is not None:
            with_meta = int((unseen & has_side).sum())
            st.caption(
                f"AUC unseen: pairs with one of the {int(unseen.sum()):,} products that have "
                f"no train pair; {with_meta:,} of them have metadata, so only those can get a "
                "cold-start vector from side information"
                + (
                    " (none here: every method scores unseen pairs at the median, AUC 0.5)."
                    if with_meta == 0
                    else "; the others are scored at the median."
                )
            )
        for r in records:
            if r.status == "failed":
                runs.show_failure(r)  # one sentence; the traceback in an expander
        curves = {
            study.METHOD_LABELS.get(r.model, r.model): runs.jobs().metrics(r.id) for r in records
        }
        left, right = st.columns(2)
        colors = {study.METHOD_LABELS.get(m, m): charts.model_color(m) for m in study.METHOD_LABELS}
        left.plotly_chart(charts.auc_overlay(curves, colors=colors), key="side.auc")
        done = frame[frame["status"] == "finished"]
        if len(done):
            right.plotly_chart(
                charts.grouped_bars(
                    done, "label", ["AUC all", "AUC seen", "AUC unseen"], "AUC by pair type"
                ),
                key="side.bars",
            )
        eges = [r for r in records if r.model == "eges" and r.status == "finished"]
        if eges:
            weights = study.field_weights(runs.outcome(eges[0]).embeddings)
            if len(weights):
                st.plotly_chart(
                    charts.bar(
                        weights, "field", "weight",
                        "EGES: mean learned weight per field (id = the product's own vector)",
                    ),
                    key="side.weights",
                )  # fmt: skip
        sweep_records = [runs.jobs().get_run(i) for i in sweep_ids]
        # Only the base coverage's runs exist until the sweep is started.
        if len({r.key for r in sweep_records} - {r.key for r in records}):
            st.subheader("AUC vs metadata coverage")
            sweep = study.results_frame(sweep_records)
            counts = sweep["status"].value_counts()
            finished = int(counts.get("finished", 0))
            if finished < len(sweep):
                st.progress(
                    finished / len(sweep),
                    text=f"{finished} of {len(sweep)} runs finished · "
                    + ", ".join(f"{n} {s}" for s, n in counts.items() if s != "finished"),
                )
            sweep = sweep[sweep["status"] == "finished"]
            if len(sweep):
                st.plotly_chart(charts.coverage_sweep(sweep, colors=colors), key="side.sweep.chart")
        now_active = any(r.active for r in records + sweep_records)
        if was_active and not now_active:
            st.rerun()

    results([r.id for r in found], [r.id for r in swept], any_active)
