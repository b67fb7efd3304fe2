"""Evaluate: ROC and precision/recall-vs-threshold (all vs seen pairs), results table, exports."""

from __future__ import annotations

import streamlit as st

from recsys_core.evaluation.evaluate import auc_curve_frame
from recsys_core.evaluation.export import projector_zip_bytes, word2vec_bytes
from ui import charts, fmt, load, runs
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

# What a model's pair score is (the axis of its precision/recall panel).
SCORE_NAMES = {
    "mf": "MF prediction",
    "mf-bias": "MF prediction",
    "mf-bias-seq": "MF prediction",
    "adamic-adar": "Adamic-Adar score",
    "popularity": "log(1+deg a) + log(1+deg b)",
}

st.title("Evaluate")
st.markdown(
    "Each validation pair is scored by the cosine of its two vectors (MF: its own "
    "prediction) and compared with its label. Solid lines use all pairs, dotted lines only "
    "pairs whose two products were seen in training. Each model has one colour on every "
    "chart."
)
prep = load.prepared()
if prep is not None:
    chosen = runs.pick_finished(prep, "eval.runs", multiple=True, max_default=4)
    if chosen:
        # Short names in legends ("#3 eges"): the picker above has the full labels. Each
        # model keeps one colour on every chart (a second run of it: a lighter shade).
        outcomes = {runs.short_label(r): runs.outcome(r) for r in chosen}
        colors = charts.run_colors({runs.short_label(r): r.model for r in chosen})
        roc, panels, aucs, score_names = {}, {}, {}, {}
        for record in chosen:
            name = runs.short_label(record)
            curves = outcomes[name].evaluation.curves
            roc[f"{name} · all"] = curves["roc_all"]
            roc[f"{name} · seen"] = curves["roc_seen"]
            panels[name] = {"all": curves["pr_all"], "seen": curves["pr_seen"]}
            score_names[name] = SCORE_NAMES.get(record.model, "cosine")
            aucs[name] = auc_curve_frame(outcomes[name].events)
        st.plotly_chart(charts.roc(roc, colors), key="eval.roc")
        st.plotly_chart(charts.threshold_panels(panels, score_names), key="eval.thr")
        st.caption(
            "Precision and recall against the score threshold, one panel per run, each on "
            "its own score axis (cosines, MF predictions and popularity scores are not on "
            "one scale). The **cliff**: a pair with a product the model never trained on "
            "gets the median score, so many pairs share one score and precision and recall "
            "jump at that threshold; on seen-only pairs (dotted) the curves are smooth."
        )
        st.subheader("Results")
        table = runs.jobs().compare([r.id for r in chosen])
        table["minutes"] = table["train s"] / 60.0
        shown = [
            c for c in ("run", "model", "AUC all", "AUC seen", "AUC unseen") if c in table.columns
        ]
        shown += [c for c in table.columns if c.startswith(("HitRate", "NDCG"))] + ["minutes"]
        scores = {c: "{:.4f}" for c in shown if c.startswith(("HitRate", "NDCG"))}
        view = table[shown].assign(**{"train time": [fmt.minutes(s) for s in table["train s"]]})
        view, flagged = fmt.flag_aucs(view, [c for c in shown if c.startswith("AUC")])
        fmt.show(
            view.drop(columns=["minutes"]),
            formats=scores,
            column_config={
                "train time": st.column_config.TextColumn(alignment="right"),
                **{
                    c: st.column_config.TextColumn(c, alignment="right")
                    for c in shown
                    if c.startswith("AUC")
                },
            },
        )
        if flagged:
            st.warning(fmt.BELOW_CHANCE_NOTE)
        st.caption(
            "AUC unseen: validation pairs with a product that had no train pair. Models "
            "without side information score those at the median, so 0.5 there means "
            '"cannot rank them"; side-information models with cold-start vectors can '
            "do better (see **Side info**)."
        )
        c1, c2 = st.columns(2)
        c1.download_button(
            "results as CSV",
            table.to_csv(index=False).encode(),
            "results.csv",
            "text/csv",
            key="eval.csv",
        )
        c2.download_button(
            "results as markdown",
            fmt.markdown_table(table[shown]).encode(),
            "results.md",
            "text/markdown",
            key="eval.md",
        )
        # Epochs, not steps: gensim counts one step per epoch, our trainers one per batch.
        st.plotly_chart(charts.auc_overlay(aucs, x="epochs", colors=colors), key="eval.auc")

        st.subheader("Export vectors")
        export_run = st.selectbox(
            "run",
            [r.id for r in chosen],
            format_func=lambda i: runs.label(next(r for r in chosen if r.id == i), status=False),
            key="eval.export",
        )
        record = next(r for r in chosen if r.id == export_run)
        emb = runs.outcome(record).embeddings
        products = prep.dataset.products
        e1, e2 = st.columns(2)
        e1.download_button(
            "word2vec text format (gensim)",
            lambda: word2vec_bytes(emb, products["asin"].to_numpy()),
            f"run{record.id}-{record.model}.w2v.txt",
            "text/plain",
            key="eval.w2v",
            on_click="ignore",
        )
        e2.download_button(
            "TensorFlow Projector (vectors.tsv + metadata.tsv)",
            lambda: projector_zip_bytes(emb, products, seen=prep.split.seen_products),
            f"run{record.id}-{record.model}-projector.zip",
            "application/zip",
            key="eval.proj",
            on_click="ignore",
        )
