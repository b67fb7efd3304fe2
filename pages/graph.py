"""Graph: the transition matrix around a product, and its ego network."""

from __future__ import annotations

import streamlit as st

from recsys_core.explore.dataset_views import graph_view
from ui import cached, charts, fmt, load
from ui.shell import inside_app

inside_app()  # a deep link on a fresh server runs this file alone: see ui/shell.py

st.title("Graph")
st.markdown(
    "Pairs become a weighted undirected graph (bought together 1.2, also bought 1.0, also "
    "viewed 0.5, summed). A walk steps from a product to a neighbour with probability "
    "proportional to the edge weight: each row of the transition matrix sums to 1."
)
prep = load.prepared()
if prep is not None:
    left, right = st.columns([3, 1])
    with left:
        product = load.product_picker(prep, "graph.product")
    with right:
        size = st.slider("products in the sample", 4, 25, 12, key="graph.size")
    if product is not None:
        view = cached.memo(
            "graph_view",
            f"{prep.split_key}:{product}:{size}",
            lambda: graph_view(prep.dataset.products, prep.graph, product, max_nodes=size),
        )
        if view.transition.to_numpy().sum() == 0:
            st.warning(
                "This product has no pair in the train graph (it is unseen): walks never "
                "reach it. Pick another product."
            )
        else:
            st.plotly_chart(
                charts.transition_heatmap(view.transition, view.titles), key="graph.heat"
            )
            sums = view.transition.sum(axis=1)
            st.caption(f"Row sums including 'rest': min {sums.min():.6f}, max {sums.max():.6f}.")
            st.plotly_chart(
                charts.ego_network(view.nodes, view.edges, view.center), key="graph.ego"
            )
            st.markdown("**Products in the ego network** (the chosen product first)")
            fmt.show(
                view.nodes.drop(columns=["label"]),
                column_config={"price": st.column_config.TextColumn("price", alignment="right")},
            )
