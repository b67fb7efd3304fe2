"""Neighbours: the most similar products to one product, for up to three models side by side."""

from __future__ import annotations

import time

import streamlit as st

from recsys_core.explore.dataset_views import product_details
from recsys_core.explore.similar import neighbours_frame, overlap
from ui import compare, fmt, load, runs, topk_export
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Neighbours")
prep = load.prepared()
if prep is not None:
    domain = prep.dataset.domain
    st.markdown(
        f"Type part of a title (or the {domain.id_name}), pick a {domain.item}, and compare "
        f"the {domain.item}s each model recommends with it (the model's own score, what "
        "HitRate ranks by) or finds most similar (cosine of its vectors). "
        f"**Unseen** {domain.item}s had no train pair; side-information models still place "
        "them from their metadata (**cold start**)."
    )
    chosen = runs.pick_finished(prep, "nb.runs", multiple=True)
    product = load.product_picker(prep, "nb.product")
    k = st.slider("neighbours", 5, 50, 10, key="nb.k")
    modes = {"recommended with (model's score)": "recommend", "similar to (cosine)": "similar"}
    mode = modes[st.radio("rank by", list(modes), horizontal=True, key="nb.mode")]
    if chosen and product is not None:
        products = prep.dataset.products
        me = product_details(products, [product], domain.fields).iloc[0]
        st.markdown(
            f"**{fmt.md(me['title'])}** ({fmt.md(me['asin'])})  \n"
            + " · ".join(fmt.md(me[c]) for c in domain.fields)
        )
        note = compare.mismatch_note(chosen)
        if note:
            st.warning(note)
        # One column per run (side by side on a wide screen; Streamlit stacks them on a
        # narrow one); the overlap table below compares the lists.
        lists = {}
        compact = len(chosen) > 1
        places = st.columns(len(chosen)) if compact else [st.container()]
        for record, place in zip(chosen, places, strict=True):
            with place:
                st.subheader(runs.short_label(record))
                # Seen marks from this run's own split (its train graph).
                seen = compare.seen_of(record, prep.split.seen_products)
                st.caption(
                    runs.label(record, status=False)
                    + f" · this {domain.item} is "
                    + ("seen in its training" if seen[product] else "unseen (no train pair)")
                    + f" · {compare.describe_split(compare.split_of(record))}"
                )
                index = runs.neighbour_index(record, mode)
                emb = runs.outcome(record).embeddings
                if not index.has_vector(product):
                    st.warning(
                        f"This model has no vector for this {domain.item}: it is unseen and "
                        "the model has no side information to place it."
                    )
                    continue
                if emb.cold_start is not None and bool(emb.cold_start[product]):
                    st.info("Answered from the cold-start vector (side information only).")
                start = time.perf_counter()
                frame = neighbours_frame(
                    index, products, product, k, seen=seen, cold_start=emb.cold_start
                )
                st.caption(f"{index.label} · lookup {1000 * (time.perf_counter() - start):.0f} ms")
                lists[runs.short_label(record)] = frame["product"].to_numpy()
                shown = fmt.neighbour_table(
                    frame,
                    product_details(products, frame["product"].to_numpy(), domain.fields),
                    compact=compact,
                )
                fmt.show(
                    shown.rename(columns={"asin": domain.id_name}),
                    column_config=fmt.neighbour_columns(compact),
                )
        if len(lists) > 1:
            st.markdown("**Overlap** (share of common neighbours)")
            st.dataframe(overlap(lists).style.format("{:.0%}"))
    if chosen:
        st.divider()
        topk_export.draw_topk_download(chosen, prep.dataset.products, domain.item)
