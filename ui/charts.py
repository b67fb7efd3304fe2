"""Plotly figures for the pages: each takes plain frames and returns a figure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
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
        # Below the x-axis title, never on it.
        legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0},
    )
    return fig


def log_ticks(values: Iterable[float]) -> dict:
    """Axis settings for a log axis with ticks only at powers of ten (1, 10, 100, 1,000).

    Plotly's own log ticks add 2 and 5 between decades, which read as a jumble
    ("2, 100, 5, 2, 10") on a small chart.
    """
    finite = [float(v) for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not finite:
        return {"type": "log"}
    low = math.floor(math.log10(min(finite)))
    high = math.ceil(math.log10(max(finite)))
    ticks = [10.0**e for e in range(low, high + 1)]
    text = [f"{t:,.0f}" if t >= 1 else f"{t:g}" for t in ticks]
    return {"type": "log", "tickvals": ticks, "ticktext": text}


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
    fig.update_xaxes(title="degree (partners in the train graph)", **log_ticks(d["degree"]))
    fig.update_yaxes(title="products", **log_ticks(d["products"]))
    return _layout(fig, "Degree distribution")


def bar(frame: pd.DataFrame, x: str, y: str, title: str = "", percent: bool = False) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=frame[x],
            y=frame[y],
            text=frame[y],
            texttemplate=(
                "%{text:.0%}"
                if percent
                else ("%{text:.3f}" if pd.api.types.is_float_dtype(frame[y]) else "%{text:,}")
            ),
        )
    )
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return _layout(fig, title, height=320)


def transition_heatmap(frame: pd.DataFrame, titles: Mapping[str, str]) -> go.Figure:
    """The transition sample (rows = from, columns = to, plus "rest").

    ``titles`` maps an ASIN to its hover text (title, brand, category, price).
    """
    rows = list(frame.index)
    cols = list(frame.columns)
    hover = [
        [
            f"P(step) = {frame.iloc[i, j]:.3f}<br><br>from {titles.get(r, r)}<br><br>to "
            + (titles.get(c, c) if c != "rest" else "any product outside the sample")
            for j, c in enumerate(cols)
        ]
        for i, r in enumerate(rows)
    ]
    # A small but non-zero probability must not read as "0.00".
    text = [
        [f"{v:.2f}" if v >= 0.005 else ("<.01" if v > 0 else "") for v in row]
        for row in frame.to_numpy()
    ]
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
                f"<b>{r.asin}</b> · {r.title}<br>{r.brand} · {r.category} · {r.price}"
                f"<br>degree {r.degree}"
                for r in nodes.itertuples(index=False)
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
    fig.update_xaxes(title="weighted degree", **log_ticks(frame["weighted degree"]))
    fig.update_yaxes(title="visits in the walks", **log_ticks(frame["visits"]))
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
    # Epoch-end reports carry the whole epoch's mean loss: drawn as markers, since joined
    # to the running loss they make a spike at every epoch boundary.
    ends = loss["epoch_end"].fillna(False).astype(bool) if "epoch_end" in loss else None
    running = loss[~ends] if ends is not None else loss
    fig.add_trace(go.Scatter(x=running["step"], y=running["loss"], name="loss", mode="lines"), 1, 1)
    if ends is not None and ends.any():
        fig.add_trace(
            go.Scatter(x=loss.loc[ends, "step"], y=loss.loc[ends, "loss"],
                       name="epoch mean loss", mode="markers",
                       marker={"symbol": "diamond", "size": 9, "color": PALETTE[3]}),
            1, 1,
        )  # fmt: skip
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
    restarts = list(restarts)
    # Beyond a dozen epochs the lines hide the curves; the epoch-mean markers remain.
    for step in restarts if len(restarts) <= 12 else ():
        for col in (1, 2, 3):
            fig.add_vline(x=step, line={"dash": "dot", "color": "grey", "width": 1}, row=1, col=col)
    fig.update_xaxes(title="step")
    _layout(fig, "", 360)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def epochs_done(frame: pd.DataFrame, end_steps: Iterable[int] | None = None) -> pd.Series:
    """Training progress of each row in epochs (1.0 = end of the first epoch).

    Steps are not comparable between trainers (gensim reports one step per epoch, ours
    one per batch of walks), epochs are. ``end_steps`` are the steps of the epoch ends in
    order (default: rows flagged ``epoch_end``); rows between two ends are placed
    linearly, rows after the last end at the first epoch's pace. NaN before any end.
    """
    steps = frame["step"].to_numpy(dtype=float)
    if end_steps is None:
        flags = frame["epoch_end"].fillna(False).astype(bool) if "epoch_end" in frame else None
        end_steps = frame.loc[flags, "step"].tolist() if flags is not None else []
    ends = sorted({float(s) for s in end_steps})
    if not ends:
        return pd.Series(float("nan"), index=frame.index)
    if ends[0] <= 0:
        # Steps that count epochs (gensim): step k is the end of epoch k.
        return pd.Series(steps + 1.0, index=frame.index)
    out = np.interp(steps, [0.0, *ends], [0.0, *range(1, len(ends) + 1)])
    after = steps > ends[-1]
    out[after] = len(ends) + (steps[after] - ends[-1]) / ends[0]
    return pd.Series(out, index=frame.index)


def auc_overlay(
    curves: Mapping[str, pd.DataFrame], column: str = "auc", x: str = "step"
) -> go.Figure:
    """AUC over training for several runs on one chart.

    ``x`` is "step" (runs of one trainer on the same walks) or "epochs" (any runs: see
    :func:`epochs_done`; a frame's ``attrs["restarts"]`` gives its epoch-end steps).
    """
    fig = go.Figure()
    for i, (name, frame) in enumerate(curves.items()):
        f = frame[frame[column].notna()] if column in frame else frame.iloc[:0]
        xs = f["step"]
        if x == "epochs":
            xs = epochs_done(frame, frame.attrs.get("restarts")).loc[f.index]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=f[column],
                name=name,
                mode="lines+markers",
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    fig.update_xaxes(title="epochs trained" if x == "epochs" else "step")
    fig.update_yaxes(title="validation AUC")
    return _layout(fig, "Validation AUC during training")


def _split_name(name: str) -> tuple[str, str]:
    """``"#3 eges · seen"`` -> ``("#3 eges", "seen")``."""
    run, _, part = name.rpartition(" · ")
    return (run, part) if run else (name, "all")


def _style_key(fig: go.Figure, entries: Iterable[tuple[str, dict]]) -> None:
    """Grey legend-only entries that explain the line styles."""
    for name, line in entries:
        fig.add_trace(
            go.Scatter(x=[None], y=[None], mode="lines", name=name,
                       line={"color": "grey", **line}, legendgroup="_key")
        )  # fmt: skip


def _run_colors(curves: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    runs = list(dict.fromkeys(_split_name(n)[0] for n in curves))
    return {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(runs)}


def roc(curves: Mapping[str, pd.DataFrame]) -> go.Figure:
    """ROC per run; ``curves`` keys are ``"<run> · all"`` / ``"<run> · seen"``.

    One legend entry per run (a click hides both of its curves); line styles in grey.
    """
    fig = go.Figure()
    colors = _run_colors(curves)
    shown: set[str] = set()
    for name, frame in curves.items():
        run, part = _split_name(name)
        fig.add_trace(
            go.Scatter(
                x=frame["fpr"], y=frame["tpr"], name=run, mode="lines",
                legendgroup=run, showlegend=run not in shown,
                line={"color": colors[run], "dash": "dot" if part == "seen" else "solid"},
                hovertemplate=f"{run} · {part} pairs<br>FPR %{{x:.3f}}, TPR %{{y:.3f}}"
                "<extra></extra>",
            )
        )  # fmt: skip
        shown.add(run)
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "lightgrey", "dash": "dash"},
                   name="chance", hoverinfo="skip")
    )  # fmt: skip
    _style_key(fig, (("all pairs", {}), ("seen pairs", {"dash": "dot"})))
    fig.update_xaxes(title="false positive rate", range=[0, 1])
    fig.update_yaxes(title="true positive rate", range=[0, 1])
    return _layout(fig, "ROC", 440)


def threshold_curves(curves: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Precision and recall versus threshold (axis inverted, as in the method's plot).

    ``curves`` keys are ``"<run> · all"`` / ``"<run> · seen"``. Precision is a thin line,
    recall a thick faded one; one legend entry per run, line styles in grey.
    """
    fig = go.Figure()
    colors = _run_colors(curves)
    shown: set[str] = set()
    for name, frame in curves.items():
        run, part = _split_name(name)
        dash = "dot" if part == "seen" else "solid"
        for metric, extra in (("precision", {}), ("recall", {"width": 4})):
            fig.add_trace(
                go.Scatter(
                    x=frame["threshold"], y=frame[metric], name=run, mode="lines",
                    legendgroup=run, showlegend=run not in shown,
                    opacity=0.5 if metric == "recall" else 1.0,
                    line={"color": colors[run], "dash": dash, **extra},
                    hovertemplate=f"{run} · {metric} · {part} pairs<br>threshold %{{x:.3f}}: "
                    "%{y:.3f}<extra></extra>",
                )
            )  # fmt: skip
            shown.add(run)
    _style_key(
        fig,
        (("precision", {}), ("recall", {"width": 4}), ("all pairs", {}),
         ("seen pairs", {"dash": "dot"})),
    )  # fmt: skip
    fig.update_xaxes(title="threshold (score)", autorange="reversed")
    fig.update_yaxes(title="precision / recall", range=[0, 1.02])
    return _layout(fig, "Precision and recall versus threshold", 440)


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
                   text=frame[y], texttemplate="%{text:.3f}", textposition="outside")
        )  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.1])
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


def coverage_sweep(frame: pd.DataFrame, by: str = "label") -> go.Figure:
    """AUC (all, seen, unseen pairs) against metadata coverage, one line per method."""
    panels = [c for c in ("AUC all", "AUC seen", "AUC unseen") if c in frame]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, horizontal_spacing=0.06)
    for i, (name, part) in enumerate(frame.groupby(by, sort=False)):
        part = part.sort_values("coverage")
        for col, panel in enumerate(panels, start=1):
            fig.add_trace(
                go.Scatter(
                    x=part["coverage"], y=part[panel], name=str(name), mode="lines+markers",
                    legendgroup=str(name), showlegend=col == 1,
                    line={"color": PALETTE[i % len(PALETTE)]},
                    hovertemplate=f"{name}<br>coverage %{{x:.0%}}: {panel} %{{y:.4f}}"
                    "<extra></extra>",
                ),
                1, col,
            )  # fmt: skip
    fig.update_xaxes(title="metadata coverage", tickformat=".0%", range=[0, 1.05])
    _layout(fig, "", 380)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", 200)
