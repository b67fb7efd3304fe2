"""Walks: sample sequences as the method's table, first-order vs node2vec, visits vs degree."""

from __future__ import annotations

import streamlit as st

from recsys_core.explore.dataset_views import visits_vs_degree, walk_steps, walks_from
from recsys_core.walks import WalkSettings
from ui import cached, charts, fmt, forms, load
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Walks")
st.markdown(
    "Random walks turn the graph into sequences, like sentences of products; word2vec then "
    "learns from which products appear near each other. node2vec biases each step: a "
    "return to the previous product is weighted 1/p, a step away from it 1/q."
)
prep = load.prepared()
if prep is not None:
    product = load.product_picker(prep, "walks.product")
    c1, c2, c3, c4 = st.columns(4)
    helps = forms.field_help(WalkSettings)
    p = c1.number_input("node2vec p", 0.05, 20.0, 0.5, 0.05, key="walks.p", help=helps.get("p"))
    q = c2.number_input("node2vec q", 0.05, 20.0, 2.0, 0.05, key="walks.q", help=helps.get("q"))
    length = c3.number_input("length", 2, 80, 10, key="walks.length", help=helps.get("length"))
    count = c4.number_input("walks shown", 1, 10, 3, key="walks.count")
    first, err1 = forms.build_settings(WalkSettings, {"length": int(length)})
    biased, err2 = forms.build_settings(WalkSettings, {"length": int(length), "p": p, "q": q})
    if err1 or err2:
        st.error(err1 or err2)
    elif product is not None:
        # Tables full width (a walk step has six columns worth reading), the two
        # visits-vs-degree charts side by side below them.
        charts_row = []
        for settings, name in (
            (first, "first-order (p = q = 1)"),
            (biased, f"node2vec (p = {p:g}, q = {q:g})"),
        ):
            walks = load.walks(prep, settings)
            if walks is None:
                continue
            rows = walks_from(walks, prep.graph, product, limit=int(count))
            st.subheader(name)
            if not len(rows):
                st.warning("No walk starts here: the product has no train pair (unseen).")
                continue
            domain = prep.dataset.domain
            steps = walk_steps(walks, prep.dataset.products, rows, domain.fields)
            if "price bucket" in steps:
                # -1 marks "no price" in the bins; shown as a dash, not as a bin.
                steps["price bucket"] = steps["price bucket"].where(steps["price bucket"] >= 0)
            steps = steps.drop(columns=["product"]).rename(columns={"asin": domain.id_name})
            fmt.show(
                steps,
                height=min(400, 38 + 35 * len(steps)),
                column_config={
                    "walk": st.column_config.NumberColumn("walk", width=50),
                    "step": st.column_config.NumberColumn("step", width=50),
                    "title": st.column_config.TextColumn("title", width=340),
                    "genres": st.column_config.TextColumn("genres", width=280),
                    "category": st.column_config.TextColumn("category", width=170),
                    "brand": st.column_config.TextColumn("brand", width=110),
                    "price": st.column_config.TextColumn("price", alignment="right"),
                },
            )
            visits = cached.memo(
                "visits",
                settings.key(prep.split_key),
                lambda walks=walks: visits_vs_degree(walks, prep.graph),
            )
            charts_row.append((name, visits))
        for column, (name, visits) in zip(st.columns(2), charts_row, strict=False):
            figure = charts.visits_vs_degree(visits)
            figure.update_layout(title=f"Visits vs degree · {name}")
            column.plotly_chart(figure, key=f"walks.visits.{name}")
