"""Plotly figures for the pages: each takes plain frames and returns a figure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def _layout(fig: go.Figure, title: str = "", height: int = 380) -> go.Figure:
    fig.update_layout(
        title=title or None,
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        legend={"orientation": "h", "y": -0.18},
    )
    return fig


def degree_distribution(degrees: pd.DataFrame) -> go.Figure:
    """Products per degree on log-log axes (a power law is a straight line)."""
    d = degrees[degrees["degree"] > 0]
    fig = go.Figure(
        go.Scatter(
            x=d["degree"],
            y=d["products"],
            mode="markers",
            hovertemplate="degree %{x}: %{y} products<extra></extra>",
        )
    )
    fig.update_xaxes(type="log", title="degree (partners in the train graph)")
    fig.update_yaxes(type="log", title="products")
    return _layout(fig, "Degree distribution")


def bar(frame: pd.DataFrame, x: str, y: str, title: str = "", percent: bool = False) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=frame[x],
            y=frame[y],
            text=frame[y],
            texttemplate=("%{text:.0%}" if percent else "%{text:,}"),
        )
    )
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return _layout(fig, title, height=320)


def transition_heatmap(frame: pd.DataFrame, titles: Mapping[str, str]) -> go.Figure:
    """The transition sample (rows = from, columns = to, plus "rest"); titles on hover."""
    rows = list(frame.index)
    cols = list(frame.columns)
    hover = [
        [
            f"from {r}: {titles.get(r, '')}<br>to {c}: "
            + (titles.get(c, "") if c != "rest" else "any product outside the sample")
            + f"<br>P = {frame.iloc[i, j]:.3f}"
            for j, c in enumerate(cols)
        ]
        for i, r in enumerate(rows)
    ]
    text = [[f"{v:.2f}" if v > 0 else "" for v in row] for row in frame.to_numpy()]
    fig = go.Figure(
        go.Heatmap(
            z=frame.to_numpy(),
            x=cols,
            y=rows,
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale="Blues",
            zmin=0,
            zmax=max(float(frame.drop(columns="rest").to_numpy().max()), 1e-9),
            colorbar={"title": "P(step)"},
        )
    )
    fig.update_yaxes(autorange="reversed", title="from")
    fig.update_xaxes(title="to", tickangle=-45)
    return _layout(fig, "Transition probabilities (each row sums to 1 with 'rest')", 520)


def ego_network(nodes: pd.DataFrame, edges: pd.DataFrame, center: int) -> go.Figure:
    """The product and its strongest neighbours on a circle; edge width ~ weight."""
    ids = nodes["product"].to_numpy()
    pos = {int(ids[0]): (0.0, 0.0)}
    others = ids[1:]
    for k, node in enumerate(others):
        angle = 2 * math.pi * k / max(len(others), 1)
        pos[int(node)] = (math.cos(angle), math.sin(angle))
    fig = go.Figure()
    wmax = float(edges["weight"].max()) if len(edges) else 1.0
    for row in edges.itertuples(index=False):
        (x0, y0), (x1, y1) = pos[int(row.source)], pos[int(row.target)]
        from_center = int(row.source) == center or int(row.target) == center
        fig.add_trace(
            go.Scatter(
                x=[x0, x1],
                y=[y0, y1],
                mode="lines",
                line={
                    "width": 0.5 + 5 * float(row.weight) / wmax,
                    "color": "rgba(31,119,180,0.6)" if from_center else "rgba(150,150,150,0.35)",
                },
                hoverinfo="skip",
                showlegend=False,
            )
        )
    # Edge weights as hoverable midpoints (lines themselves carry no hover in plotly).
    ends = list(zip(edges.source, edges.target, strict=True))
    mids = edges.assign(
        mx=[(pos[int(s)][0] + pos[int(t)][0]) / 2 for s, t in ends],
        my=[(pos[int(s)][1] + pos[int(t)][1]) / 2 for s, t in ends],
    )
    fig.add_trace(
        go.Scatter(
            x=mids["mx"],
            y=mids["my"],
            mode="markers",
            marker={"size": 6, "color": "rgba(0,0,0,0)"},
            hovertext=[f"weight {w:.2f}" for w in mids["weight"]],
            hoverinfo="text",
            showlegend=False,
        )
    )
    xs = [pos[int(i)][0] for i in ids]
    ys = [pos[int(i)][1] for i in ids]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers+text",
            text=nodes["asin"],
            textposition="top center",
            marker={
                "size": [22] + [10 + min(int(d), 30) // 3 for d in nodes["degree"].iloc[1:]],
                "color": ["#d62728"] + ["#1f77b4"] * (len(ids) - 1),
            },
            hovertext=[
                f"{a}<br>{t}<br>{c or ''}<br>degree {d}"
                for a, t, c, d in zip(
                    nodes["asin"], nodes["title"], nodes["category"], nodes["degree"], strict=True
                )
            ],
            hoverinfo="text",
            showlegend=False,
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return _layout(fig, "Ego network (edge width = pair weight)", 520)


def visits_vs_degree(frame: pd.DataFrame) -> go.Figure:
    fig = go.Figure(
        go.Scattergl(
            x=frame["weighted degree"],
            y=frame["visits"],
            mode="markers",
            marker={"size": 4, "opacity": 0.5},
            hovertemplate="weighted degree %{x:.1f}, visits %{y}<extra></extra>",
        )
    )
    fig.update_xaxes(type="log", title="weighted degree")
    fig.update_yaxes(type="log", title="visits in the walks")
    return _layout(fig, "Visits vs degree")


def training_curves(metrics: pd.DataFrame, restarts: Iterable[int] = ()) -> go.Figure:
    """Loss, validation AUC (all / seen) and learning rate over steps, restarts marked."""
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("loss", "validation AUC", "learning rate"),
        horizontal_spacing=0.07,
    )
    m = metrics
    loss = m[m["loss"].notna()] if "loss" in m else m.iloc[:0]
    fig.add_trace(go.Scatter(x=loss["step"], y=loss["loss"], name="loss", mode="lines"), 1, 1)
    auc = m[m["auc"].notna()] if "auc" in m else m.iloc[:0]
    fig.add_trace(
        go.Scatter(x=auc["step"], y=auc["auc"], name="AUC all", mode="lines+markers"), 1, 2
    )
    if "auc_seen" in auc:
        fig.add_trace(
            go.Scatter(x=auc["step"], y=auc["auc_seen"], name="AUC seen", mode="lines+markers"),
            1,
            2,
        )
    if "lr" in m:
        fig.add_trace(go.Scatter(x=m["step"], y=m["lr"], name="lr", mode="lines"), 1, 3)
    for step in restarts:
        for col in (1, 2, 3):
            fig.add_vline(x=step, line={"dash": "dot", "color": "grey", "width": 1}, row=1, col=col)
    fig.update_xaxes(title="step")
    _layout(fig, "", 360)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def auc_overlay(curves: Mapping[str, pd.DataFrame], column: str = "auc") -> go.Figure:
    """AUC over steps for several runs on one chart."""
    fig = go.Figure()
    for i, (name, frame) in enumerate(curves.items()):
        f = frame[frame[column].notna()] if column in frame else frame.iloc[:0]
        fig.add_trace(
            go.Scatter(
                x=f["step"],
                y=f[column],
                name=name,
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="validation AUC")
    return _layout(fig, "AUC over training steps")


def roc(curves: Mapping[str, pd.DataFrame]) -> go.Figure:
    fig = go.Figure()
    for i, (name, frame) in enumerate(curves.items()):
        dash = "dot" if name.endswith("seen") else "solid"
        fig.add_trace(
            go.Scatter(
                x=frame["fpr"],
                y=frame["tpr"],
                name=name,
                mode="lines",
                line={"color": PALETTE[(i // 2) % len(PALETTE)], "dash": dash},
            )
        )
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "grey", "dash": "dash"},
                   name="chance")
    )  # fmt: skip
    fig.update_xaxes(title="false positive rate", range=[0, 1])
    fig.update_yaxes(title="true positive rate", range=[0, 1])
    return _layout(fig, "ROC", 420)


def threshold_curves(curves: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Precision and recall versus threshold (axis inverted, as in the method's plot)."""
    fig = go.Figure()
    for i, (name, frame) in enumerate(curves.items()):
        color = PALETTE[(i // 2) % len(PALETTE)]
        dash = "dot" if name.endswith("seen") else "solid"
        fig.add_trace(
            go.Scatter(x=frame["threshold"], y=frame["precision"], name=f"precision {name}",
                       mode="lines", line={"color": color, "dash": dash})
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=frame["threshold"], y=frame["recall"], name=f"recall {name}",
                       mode="lines", line={"color": color, "dash": dash, "width": 3},
                       opacity=0.6)
        )  # fmt: skip
    fig.update_xaxes(title="threshold (score)", autorange="reversed")
    fig.update_yaxes(title="precision / recall", range=[0, 1.02])
    return _layout(fig, "Precision and recall versus threshold", 420)


def embedding_map(
    frame: pd.DataFrame, color: str, highlight: pd.DataFrame | None = None
) -> go.Figure:
    """Scatter of a 2-D projection coloured by ``color``; highlighted products on top.

    ``frame`` has x, y, label (hover) and the colour column; ``highlight`` has x, y,
    label and role ("chosen" or "neighbour").
    """
    fig = go.Figure()
    values = frame[color]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        fig.add_trace(
            go.Scattergl(
                x=frame["x"], y=frame["y"], mode="markers", hovertext=frame["label"],
                hoverinfo="text", name=color,
                marker={"size": 4, "color": values, "colorscale": "Viridis", "showscale": True,
                        "colorbar": {"title": color}, "opacity": 0.7},
            )
        )  # fmt: skip
    else:
        labels = values.fillna("(missing)").astype(str)
        top = labels.value_counts().index[:15].tolist()
        labels = labels.where(labels.isin(top), "(other)")
        for i, value in enumerate(sorted(labels.unique(), key=lambda v: (v.startswith("("), v))):
            part = frame[labels == value]
            fig.add_trace(
                go.Scattergl(
                    x=part["x"], y=part["y"], mode="markers", name=value,
                    hovertext=part["label"], hoverinfo="text",
                    marker={"size": 4, "opacity": 0.6, "color": PALETTE[i % len(PALETTE)]
                            if not value.startswith("(") else "lightgrey"},
                )
            )  # fmt: skip
    if highlight is not None and len(highlight):
        for role, style in (
            ("neighbour", {"size": 11, "color": "black", "symbol": "circle-open"}),
            ("chosen", {"size": 16, "color": "red", "symbol": "star"}),
        ):
            part = highlight[highlight["role"] == role]
            fig.add_trace(
                go.Scatter(
                    x=part["x"], y=part["y"], mode="markers", name=role, marker=style,
                    hovertext=part["label"], hoverinfo="text",
                )
            )  # fmt: skip
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", 620)


def grouped_bars(frame: pd.DataFrame, x: str, ys: list[str], title: str) -> go.Figure:
    fig = go.Figure()
    for i, y in enumerate(ys):
        fig.add_trace(
            go.Bar(x=frame[x], y=frame[y], name=y, marker_color=PALETTE[i % len(PALETTE)],
                   text=frame[y], texttemplate="%{text:.3f}")
        )  # fmt: skip
    fig.update_layout(barmode="group")
    return _layout(fig, title)


def lines_by(
    frame: pd.DataFrame, x: str, y: str, by: str, title: str, x_title: str = ""
) -> go.Figure:
    fig = go.Figure()
    for i, (name, part) in enumerate(frame.groupby(by, sort=False)):
        part = part.sort_values(x)
        fig.add_trace(
            go.Scatter(x=part[x], y=part[y], name=str(name), mode="lines+markers",
                       line={"color": PALETTE[i % len(PALETTE)]})
        )  # fmt: skip
    fig.update_xaxes(title=x_title or x)
    fig.update_yaxes(title=y)
    return _layout(fig, title)


def empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", 200)
