"""Graph: the transition matrix around a product, and its ego network."""

from __future__ import annotations

import streamlit as st

from recsys_core.explore.dataset_views import graph_view
from ui import cached, charts, fmt, load
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Graph")
prep = load.prepared()
if prep is not None:
    domain = prep.dataset.domain
    st.markdown(
        f"{domain.pairs_text} The pairs make a weighted undirected graph. A walk steps from "
        f"a {domain.item} to a neighbour with probability proportional to the edge weight: "
        "each row of the transition matrix sums to 1."
    )
    left, right = st.columns([3, 1])
    with left:
        product = load.product_picker(prep, "graph.product")
    with right:
        size = st.slider(f"{domain.item}s in the sample", 4, 25, 12, key="graph.size")
    if product is not None:
        view = cached.memo(
            "graph_view",
            f"{prep.split_key}:{product}:{size}",
            lambda: graph_view(
                prep.dataset.products, prep.graph, product, max_nodes=size, domain=domain
            ),
        )
        if view.transition.to_numpy().sum() == 0:
            st.warning(
                f"This {domain.item} has no pair in the train graph (it is unseen): walks "
                f"never reach it. Pick another {domain.item}."
            )
        else:
            st.plotly_chart(
                charts.transition_heatmap(view.transition, view.titles), key="graph.heat"
            )
            sums = view.transition.sum(axis=1)
            st.caption(
                f"Rows and columns are {domain.item}s by title (hover for details). Row "
                f"sums including 'rest': min {sums.min():.6f}, max {sums.max():.6f}."
            )
            st.plotly_chart(
                charts.ego_network(view.nodes, view.edges, view.center), key="graph.ego"
            )
            st.markdown(f"**{domain.item.capitalize()}s in the ego network** (the chosen first)")
            table = view.nodes.drop(columns=["product", "label", "asin"]).assign(
                **{domain.id_name: view.nodes["asin"].to_numpy()}
            )
            fmt.show(
                table,
                column_config={
                    "title": st.column_config.TextColumn("title", width="large"),
                    "brand": st.column_config.TextColumn("brand", width="medium"),
                    "category": st.column_config.TextColumn("category", width="medium"),
                    "genres": st.column_config.TextColumn("genres", width="medium"),
                    "price": st.column_config.TextColumn("price", alignment="right"),
                    domain.id_name: st.column_config.TextColumn(domain.id_name, width="medium"),
                },
            )
