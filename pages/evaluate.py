"""Evaluate: protocol, baselines, ROC, precision/recall, AUC by popularity, results, exports,
sweeps."""

from __future__ import annotations

import dataclasses

import streamlit as st

from recsys_core.common.settings import SettingsError
from recsys_core.evaluation.evaluate import BUCKET_NOTE, auc_curve_frame
from recsys_core.evaluation.export import projector_zip_bytes, word2vec_bytes
from recsys_core.evaluation.results import fold_intervals
from recsys_core.explore import sweeps
from recsys_core.jobs import estimate
from recsys_core.split import NEGATIVE_PROTOCOLS, SplitSettings
from ui import charts, compare, datasets, fmt, jobgate, load, runs, sidebar, url
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

# What a model's pair score is (the axis of its precision/recall panel).
SCORE_NAMES = {
    "mf": "MF prediction",
    "mf-bias": "MF prediction",
    "mf-bias-seq": "MF prediction",
    "adamic-adar": "Adamic-Adar score",
    "popularity": "log(1+deg a) + log(1+deg b)",
    "item-knn": "item-kNN shrunk cosine",
    "rp3beta": "RP3beta walk score",
    "ease": "EASE weight",
}
PROTOCOL_HELP = {
    "uniform": "the method's: random pairs of products. Real pairs lean to popular "
    "products, random ones to rare products, so popularity alone already scores well.",
    "degree-matched": "each negative swaps one product of a real pair for one of the same "
    "train-degree bucket: popularity alone scores about 0.5, so what a model scores above "
    "that it learned beyond popularity.",
    "two-hop": "each negative is a product two steps away in the train graph that is not a "
    "partner: hard negatives that common-neighbour heuristics cannot tell apart.",
}
RANKED = ("NDCG", "HitRate", "Recall", "MRR", "Coverage", "Popularity")
BUCKET_METRICS = {"NDCG@10": "ndcg", "HitRate@10": "hit_rate", "AUC": "auc"}


def sweep_view(finished: list, split: SplitSettings) -> None:
    """Pick a sweep among the finished runs on these pairs; AUC against each setting."""
    found = sweeps.find_sweeps(finished)
    if not found:
        st.caption(
            "No sweep on these pairs yet: a sweep is two or more finished runs of one model "
            "that differ only in model settings, e.g. "
            "`python -m recsys_core sweep --model sgns --grid dim=32,64 --grid window=3,5`."
        )
        return
    picked = st.selectbox(
        "sweep", range(len(found)), format_func=lambda i: found[i].label, key="eval.sweep"
    )
    sweep = found[picked]
    lines = {key: sweeps.sweep_lines(sweep, key) for key in sweep.keys}
    title = f"{sweep.model} · {split.reported_part} pairs · {split.negatives} negatives"
    st.plotly_chart(charts.sweep_auc(lines, title), key="eval.sweep_chart")
    st.caption(
        "One panel per swept setting; one colour per combination of the other swept "
        "settings. AUC all solid, AUC seen (pairs whose products both had train pairs) dotted."
    )
    fmt.show(sweep.frame, formats={"AUC all": "{:.4f}", "AUC seen": "{:.4f}"})


def draw_other_protocols(
    prep: object, everything: list, split: SplitSettings, protocol: str, pairs_key: str
) -> None:
    """Finished runs of these pairs' split under another protocol, with a button that
    evaluates them under ``protocol`` (the engine re-scores their vectors; no training)."""
    specs_here = [compare.run_spec(r) for r in everything if compare.split_key(r) == pairs_key]
    ids_here = {s.key() for s in specs_here if s is not None}
    todo = []
    for record in everything:
        spec = compare.run_spec(record)
        if record.status != "finished" or spec is None or record.model in compare.BASELINES:
            continue
        if spec.split.negatives == protocol:
            continue
        if dataclasses.replace(spec.split, negatives=protocol) != split:
            continue  # another split altogether (fractions, held-out products, seed)
        other = dataclasses.replace(spec, split=split)
        if other.key() not in ids_here:
            todo.append((record, other))
    if not todo:
        return
    st.caption(
        f"{len(todo)} finished run(s) were evaluated under other negatives only: "
        + ", ".join(f"#{r.id} {r.model} ({compare.split_of(r).negatives})" for r, _ in todo[:6])
        + ("…" if len(todo) > 6 else "")
        + f". Evaluating them under {protocol} negatives re-scores their vectors."
    )
    one = estimate.evaluation_only(prep.dataset.n_products, len(prep.dataset.pairs))
    ests = [one] * len(todo)
    if jobgate.draw_start_button(
        f"Evaluate them under {protocol} negatives",
        ests[0],
        f"eval.reprotocol.{protocol}",
        primary=False,
    ):
        try:
            if jobgate.submit(runs.jobs(), [o for _, o in todo], ests):
                st.rerun()
        except (SettingsError, ValueError, OSError) as exc:
            st.warning(f"Could not start the evaluation: {exc}")


st.title("Evaluate")
st.markdown(
    "Recommendations first: each product of the held-out pairs asks each model for its "
    "top 10 among all products, ranked by the model's own scoring rule (skip-gram: its "
    "in-out score by default; MF: its logit; the no-training baselines: their formula on "
    "the train graph), and its held-out partners are the right answers (NDCG@10, "
    "HitRate@10, with 95% intervals). Beside it, the method's AUC: each held-out pair "
    "against a sampled negative. Only runs evaluated on the same pairs are compared: same "
    "dataset, split and negative protocol. Each model has one colour on every chart."
)
prep = load.prepared()
if prep is not None:
    spec = sidebar.drawn_run_spec()
    base_split = spec.split if spec is not None else SplitSettings()
    protocol = st.selectbox(
        "negatives (evaluation protocol)",
        list(NEGATIVE_PROTOCOLS),
        index=list(NEGATIVE_PROTOCOLS).index(base_split.negatives),
        key="eval.protocol",
        help=" ".join(f"**{k}**: {PROTOCOL_HELP.get(k, '')}" for k in NEGATIVE_PROTOCOLS),
    )
    split = dataclasses.replace(base_split, negatives=protocol)
    pairs_key = split.key(prep.dataset_key)
    st.caption(
        f"Pairs: {compare.describe_split(split)}. Tables report the "
        f"{split.reported_part} part; live curves during training use validation. "
        "The vectors do not depend on the negatives: a run trained under another protocol "
        "is evaluated under this one with a click below, without training again."
    )
    everything = runs.runs_of(prep)
    same = [r for r in everything if compare.split_key(r) == pairs_key]
    # The no-training baselines stand in every table, once scored: a click scores them.
    missing = [
        b
        for b in compare.BASELINES
        if not any(r.model == b and r.status in ("finished", "queued", "running") for r in same)
    ]
    n_products, n_pairs = prep.dataset.n_products, len(prep.dataset.pairs)
    if missing:
        from recsys_core.pipeline import RunSpec

        specs = [
            RunSpec.create(name, dataset=datasets.dataset_settings(), split=split)
            for name in missing
        ]
        ests = [estimate.baseline(name, n_products, n_pairs) for name in missing]
        total = ests[0]
        for more in ests[1:]:
            total = total + more
        if jobgate.draw_start_button(
            f"Score the baselines ({', '.join(missing)})",
            total,
            "eval.baselines",
            help="Popularity and Adamic-Adar need no training: they score the pairs from "
            "the train graph. They run in the background like any run.",
            primary=False,
        ):
            try:
                if jobgate.submit(runs.jobs(), specs, ests):
                    st.rerun()
            except (SettingsError, ValueError, OSError) as exc:
                st.warning(f"Could not start the baselines: {exc}")
    draw_other_protocols(prep, everything, split, protocol, pairs_key)
    pending = [r for r in same if r.model in compare.BASELINES and r.active]
    if pending:

        @st.fragment(run_every=1.0)
        def wait_for_baselines(ids: list[int]) -> None:
            records = [runs.jobs().get_run(i) for i in ids]
            if not any(r.active for r in records):
                st.rerun()
            st.progress(
                sum(r.progress for r in records) / len(records),
                text="Scoring the no-training baselines: "
                + ", ".join(f"{r.model} {r.status}" for r in records),
            )

        wait_for_baselines([r.id for r in pending])
    finished = [r for r in same if r.status == "finished"]
    elsewhere = [r for r in everything if r.status == "finished" and r not in same]
    if elsewhere:
        st.caption(
            f"{len(elsewhere)} finished run(s) on this dataset were evaluated on other pairs "
            "(another split or protocol) and are not offered here: "
            + ", ".join(
                f"#{r.id} {r.model} ({compare.describe_split(compare.split_of(r))})"
                for r in elsewhere[:6]
            )
            + ("…" if len(elsewhere) > 6 else "")
        )
    by_id = {r.id: r for r in finished}
    trained = [r.id for r in finished if r.model not in compare.BASELINES]
    baselines = [
        next(r.id for r in finished if r.model == b)
        for b in compare.BASELINES
        if any(r.model == b for r in finished)
    ]
    if not trained:
        # the picker below, which names a bad run link, is not drawn without trained runs
        note = runs.unknown_link_note("runs", url.url_value("runs"), {}, "no run")
        if note:
            st.warning(note)
        st.info(
            f"No trained run evaluated under {protocol} negatives on this dataset yet: train "
            "one on the **Train** page, or evaluate a run of another protocol under this one "
            "with the button above (no training)."
        )
    # The baselines are on every chart and table; the picker chooses the trained runs.
    picked = (
        runs.pick_finished(
            prep,
            f"eval.runs.{protocol}",
            multiple=True,
            max_default=4,
            candidates=[by_id[i] for i in trained],
        )
        if trained
        else []
    )
    chosen_ids = baselines + [r.id for r in picked]
    if baselines:
        st.caption("Popularity and Adamic-Adar (no training) are always included.")
    chosen = [by_id[i] for i in chosen_ids]
    if chosen:
        # Short names in legends ("#3 eges"): the picker above has the full labels. Each
        # model keeps one colour on every chart (a second run of it: a lighter shade).
        names = {r.id: runs.short_label(r) for r in chosen}
        outcomes = {names[r.id]: runs.outcome(r) for r in chosen}
        colors = charts.run_colors({names[r.id]: r.model for r in chosen})
        roc, panels, aucs, score_names = {}, {}, {}, {}
        for record in chosen:
            name = names[record.id]
            curves = outcomes[name].evaluation.curves
            roc[f"{name} · all"] = curves["roc_all"]
            roc[f"{name} · seen"] = curves["roc_seen"]
            panels[name] = {"all": curves["pr_all"], "seen": curves["pr_seen"]}
            score_names[name] = SCORE_NAMES.get(record.model, "cosine")
            if record.model not in compare.BASELINES:
                aucs[name] = auc_curve_frame(outcomes[name].events)
        part = split.reported_part
        st.subheader("Results")
        table = runs.jobs().compare([r.id for r in chosen])
        table["lift over popularity"] = compare.lift(table, chosen)
        # NDCG@10 and HitRate@10 lead (± half their 95% interval), AUC beside them
        folded = fold_intervals(table)
        ranked = [c for c in folded.columns if c.startswith(RANKED)]
        shown = ["run", "model", *ranked]
        shown += [
            c
            for c in ("AUC all", "lift over popularity", "AUC seen", "AUC unseen")
            if c in table.columns
        ]
        if (table["ranked among"] != "all products").any():  # a sampled ranking says so
            shown.append("ranked among")
        scores = {c: "{:.4f}" for c in ranked if c not in table or c + " low" not in table}
        scores["lift over popularity"] = "{:+.4f}"
        policies = [(r.summary or {}).get("unseen_policy") or "—" for r in chosen]
        # The baselines do not train: what they spend is scoring (their "fit" computes
        # the degrees or common neighbours they score with), so it is reported as such.
        times = [compare.time_columns(r) for r in chosen]
        view = folded[shown].assign(
            **{
                "unseen policy": policies,
                "train time": [fmt.minutes(t[0]) if t[0] is not None else "—" for t in times],
                "scoring time": [fmt.minutes(t[1]) if t[1] is not None else "—" for t in times],
            }
        )
        view, flagged = fmt.flag_aucs(view, [c for c in shown if c.startswith("AUC")])
        fmt.show(
            view,
            formats=scores,
            column_config={
                "train time": st.column_config.TextColumn(alignment="right"),
                "scoring time": st.column_config.TextColumn(alignment="right"),
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
            f"{part.capitalize()} pairs, {protocol} negatives ({compare.describe_split(split)}). "
            "NDCG@k, HitRate@k, Recall@k, MRR: each product of the held-out positives asks "
            "for its top k among all products (not its train neighbours), its held-out "
            "partners are the right answers; ± is half the 95% bootstrap interval over "
            "queries. Coverage: share of products in any top-10 list; popularity: mean "
            "log(1 + train degree) of what is recommended. "
            "Lift over popularity: AUC all minus the popularity baseline's on the same pairs. "
            "AUC unseen: pairs with a product that had no train pair; the unseen policy "
            'says how each row scored them (median: 0.5 means "cannot rank them"; '
            "cold-start: side-information vectors, see **Side info**)."
        )
        c1, c2 = st.columns(2)
        c1.download_button(
            "results as CSV",
            table.assign(part=part, protocol=protocol).to_csv(index=False).encode(),
            "results.csv",
            "text/csv",
            key="eval.csv",
        )
        c2.download_button(
            "results as markdown",
            fmt.markdown_table(folded[shown].assign(part=part, protocol=protocol)).encode(),
            "results.md",
            "text/markdown",
            key="eval.md",
        )
        st.subheader("By popularity of the pair")
        metric = st.radio("metric", list(BUCKET_METRICS), horizontal=True, key="eval.bucket_metric")
        buckets = compare.bucket_frame(chosen, names)
        if len(buckets):
            st.plotly_chart(
                charts.bucket_auc(buckets, colors, BUCKET_METRICS[metric]), key="eval.buckets"
            )
            st.caption(
                f"{part.capitalize()} pairs; NDCG@10 and HitRate@10 of the top-10 lists of "
                "the query products whose rarest held-out pair falls in the bucket, AUC "
                f"under {protocol} negatives. Baselines "
                "dashed. Where a model's line stands above popularity's, it learned "
                f"something popularity does not explain. Buckets: {BUCKET_NOTE}."
            )
        else:
            st.caption("These runs were evaluated before per-bucket figures existed.")

        st.subheader("The method's AUC: ROC and precision / recall")
        roc_figure = charts.roc(roc, colors)
        roc_figure.update_layout(title=f"ROC · {part} pairs · {protocol} negatives")
        st.plotly_chart(roc_figure, key="eval.roc")

        st.plotly_chart(charts.threshold_panels(panels, score_names), key="eval.thr")
        st.caption(
            "Precision and recall against the threshold, one panel per run, read as the "
            "share of pairs scored at or above it (cosines, MF predictions and heuristic "
            "scores are not on one scale; the threshold itself is in the hover). The "
            "**cliff**: a pair with a product the model has no vector for gets the median "
            "score, so many pairs share one score and precision and recall "
            "jump at that threshold; on seen-only pairs (dotted) the curves are smooth."
        )
        if aucs:
            # Epochs, not steps: gensim counts one step per epoch, ours one per batch.
            st.plotly_chart(charts.auc_overlay(aucs, x="epochs", colors=colors), key="eval.auc")
            st.caption("Live validation AUC while training (the baselines do not train).")

        st.subheader("Export vectors")
        exportable = [r for r in chosen if r.model not in compare.BASELINES]
        if not exportable:
            st.caption("The baselines have no vectors to export.")
        else:
            export_run = st.selectbox(
                "run",
                [r.id for r in exportable],
                format_func=lambda i: runs.label(by_id[i], status=False),
                key="eval.export",
            )
            record = by_id[export_run]
            emb = runs.outcome(record).embeddings
            products = prep.dataset.products
            seen = compare.seen_of(record, prep.split.seen_products)
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
                lambda: projector_zip_bytes(emb, products, seen=seen),
                f"run{record.id}-{record.model}-projector.zip",
                "application/zip",
                key="eval.proj",
                on_click="ignore",
            )

    st.subheader("Sweeps")
    sweep_view(finished, split)
