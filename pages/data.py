"""Home / Data: what the dataset is, its counts, coverage, degrees and split."""

from __future__ import annotations

import streamlit as st

from recsys_core.explore.dataset_views import dataset_overview
from ui import cached, charts, datasets, fmt, load
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Item embeddings from product graphs")
st.markdown(
    "Pick a dataset and a model in the sidebar. The pipeline turns product pairs into a "
    "weighted graph, walks it at random, learns a vector per product from the walks, and "
    "evaluates the vectors on held-out pairs. The pages follow that order."
)

prep = load.prepared()
if prep is not None:
    view = cached.memo(
        "overview", prep.split_key, lambda: dataset_overview(prep.dataset, prep.split, prep.graph)
    )
    st.subheader(prep.dataset.name)
    st.caption(fmt.dataset_caption(datasets.dataset_settings()))
    domain = prep.dataset.domain
    c = view.counts
    cols = st.columns(5)
    cols[0].metric(f"{domain.item}s", f"{c['products']:,}")
    cols[1].metric("pairs", f"{c['pairs']:,}")
    cols[2].metric("metadata coverage", f"{c['metadata coverage']:.0%}")
    cols[3].metric("train pairs", f"{view.split['train_pairs']:,}")
    cols[4].metric(
        "unseen validation products",
        f"{view.split['val_products_unseen_share']:.1%}",
        help=f"{domain.item.capitalize()}s in validation pairs with no train pair: models "
        "never walk through them, so only side information can place them.",
    )
    st.markdown(f"**Pairs.** {domain.pairs_text}")
    left, right = st.columns(2)
    with left:
        if len(view.relationships):
            st.plotly_chart(
                charts.bar(
                    view.relationships,
                    "relationship",
                    "pairs",
                    "Links by relationship (before duplicates merge into pairs)",
                ),
                key="data.rel",
            )
        st.plotly_chart(
            charts.bar(view.coverage, "field", "share of all", "Metadata coverage per field", True),
            key="data.cov",
        )
    with right:
        st.plotly_chart(charts.degree_distribution(view.degrees), key="data.deg")
        st.markdown("**Train / validation / test split**")
        st.dataframe(fmt.split_table(view.split), hide_index=True)
    st.markdown("**Loader report**")
    st.write(
        f"{c['lines read']:,} lines read, {c['records']:,} records, "
        f"{c['skipped lines']:,} lines skipped, {c['load seconds']} s."
    )
    if len(view.skipped):
        st.caption("First skipped lines and why:")
        fmt.show(view.skipped)
    with st.expander("coverage table"):
        st.dataframe(
            fmt.percent_columns(view.coverage, ["share of all", "share of records"]),
            hide_index=True,
        )
