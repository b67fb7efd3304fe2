"""Plotly figures for the pages: each takes plain frames and returns a figure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recsys_core.models.registry import BASELINES

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
# 24 colours that stay apart (plotly's Dark24): categories with many values (genres).
WIDE_PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)  # fmt: skip
MISSING_COLOR = "#d3d3d3"

# One colour per series, the same in every chart and in the live and finished states.
SERIES_COLORS = {
    "loss": "#1f77b4",
    "epoch mean loss": "#d62728",
    "AUC all": "#2ca02c",
    "AUC seen": "#9467bd",
    "AUC unseen": "#ff7f0e",
    "lr": "#8c564b",
    "precision": "#1f77b4",
    "recall": "#ff7f0e",
    "HitRate": "#2ca02c",
    "NDCG": "#9467bd",
}
# One colour per model, the same on every chart; the two no-training baselines in greys.
MODEL_COLORS = {
    "sgns": "#1f77b4",
    "node2vec": "#9467bd",
    "gensim-sg": "#ff7f0e",
    "gensim-cbow": "#bcbd22",
    "sgns-side-mean": "#2ca02c",
    "eges": "#d62728",
    "eges-skip-missing": "#e377c2",
    "mf": "#17becf",
    "mf-bias": "#8c564b",
    "mf-bias-seq": "#00A08B",
    "popularity": "#7f7f7f",
    "adamic-adar": "#222A2A",
}
BASELINE_DASH = "dash"


def model_color(model: str) -> str:
    """The fixed colour of a model (a stable pick from :data:`WIDE_PALETTE` if unknown)."""
    if model in MODEL_COLORS:
        return MODEL_COLORS[model]
    return WIDE_PALETTE[sum(map(ord, model)) % len(WIDE_PALETTE)]


def _shade(color: str, amount: float) -> str:
    """``color`` mixed with white by ``amount`` (0 = itself)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(c + (255 - c) * amount) for c in (r, g, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def run_colors(models: Mapping[str, str]) -> dict[str, str]:
    """Colour per run name from its model (``{run name: model}``, in legend order).

    A model's first run has the model's colour; further runs of the same model get
    lighter shades of it, so the model stays recognisable and the runs distinct.
    """
    seen: dict[str, int] = {}
    out = {}
    for run, model in models.items():
        k = seen.get(model, 0)
        seen[model] = k + 1
        out[run] = _shade(model_color(model), min(0.25 * k, 0.6))
    return out


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
    """The product and its strongest neighbours, placed by the view's force-directed layout
    (``x``, ``y``: linked neighbours sit together); edge width ~ weight."""
    # Display fields: whatever the view put between the title and the degree.
    columns = list(nodes.columns)
    fields = columns[columns.index("title") + 1 : columns.index("degree")]
    ids = nodes["product"].to_numpy()
    pos = {
        int(i): (float(x), float(y)) for i, x, y in zip(ids, nodes["x"], nodes["y"], strict=True)
    }
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
            text=nodes["label"] if "label" in nodes else nodes["asin"],
            textposition="top center",
            marker={
                "size": [22] + [10 + min(int(d), 30) // 3 for d in nodes["degree"].iloc[1:]],
                "color": ["#d62728"] + ["#1f77b4"] * (len(ids) - 1),
            },
            hovertext=[
                f"<b>{r['asin']}</b> · {r['title']}<br>"
                + " · ".join(str(r[f]) for f in fields)
                + f"<br>degree {r['degree']}"
                for _, r in nodes.iterrows()
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
    fig.add_trace(
        go.Scatter(x=running["step"], y=running["loss"], name="loss", mode="lines",
                   line={"color": SERIES_COLORS["loss"]}),
        1, 1,
    )  # fmt: skip
    if ends is not None and ends.any():
        fig.add_trace(
            go.Scatter(x=loss.loc[ends, "step"], y=loss.loc[ends, "loss"],
                       name="epoch mean loss", mode="markers",
                       marker={"symbol": "diamond", "size": 9,
                               "color": SERIES_COLORS["epoch mean loss"]}),
            1, 1,
        )  # fmt: skip
    auc = m[m["auc"].notna()] if "auc" in m else m.iloc[:0]
    fig.add_trace(
        go.Scatter(x=auc["step"], y=auc["auc"], name="AUC all", mode="lines+markers",
                   line={"color": SERIES_COLORS["AUC all"]}),
        1, 2,
    )  # fmt: skip
    if "auc_seen" in auc:
        fig.add_trace(
            go.Scatter(x=auc["step"], y=auc["auc_seen"], name="AUC seen", mode="lines+markers",
                       line={"color": SERIES_COLORS["AUC seen"]}),
            1, 2,
        )  # fmt: skip
    _chance_line(fig, auc["auc"], row=1, col=2)
    if "lr" in m:
        fig.add_trace(
            go.Scatter(x=m["step"], y=m["lr"], name="lr", mode="lines",
                       line={"color": SERIES_COLORS["lr"]}),
            1, 3,
        )  # fmt: skip
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
    curves: Mapping[str, pd.DataFrame],
    column: str = "auc",
    x: str = "step",
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """AUC over training for several runs on one chart.

    ``x`` is "step" (runs of one trainer on the same walks) or "epochs" (any runs: see
    :func:`epochs_done`; a frame's ``attrs["restarts"]`` gives its epoch-end steps).
    ``colors`` maps a curve name to its colour (see :func:`run_colors`).
    """
    fig = go.Figure()
    values = []
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
                line={"color": (colors or {}).get(name, PALETTE[i % len(PALETTE)])},
            )
        )
        values.extend(f[column].tolist() if column in f else [])
    _chance_line(fig, values)
    fig.update_xaxes(title="epochs trained" if x == "epochs" else "step")
    fig.update_yaxes(title="validation AUC")
    return _layout(fig, "Validation AUC during training")


def below_chance(values: Iterable[float | None]) -> bool:
    """True when any AUC is below 0.5 (worse than a coin), by more than noise (0.01)."""
    return any(v is not None and math.isfinite(v) and v < 0.49 for v in values)


def _chance_line(fig: go.Figure, values: Iterable[float | None], **where: int) -> None:
    """A dashed line at AUC 0.5 when a curve comes near it (below 0.6), shaded below 0.5
    when a curve dips there. Far above it the line would only squash the curves."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite or min(finite) >= 0.6:
        return
    fig.add_hline(
        y=0.5, line={"dash": "dash", "color": "grey", "width": 1},
        annotation_text="chance (0.5)", annotation_position="bottom right", **where,
    )  # fmt: skip
    if below_chance(finite):
        fig.add_hrect(
            y0=0.0, y1=0.5, fillcolor="#d62728", opacity=0.06, line_width=0,
            annotation_text="below chance: ranks negatives above positives",
            annotation_position="bottom left", **where,
        )  # fmt: skip


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


def roc(curves: Mapping[str, pd.DataFrame], colors: Mapping[str, str] | None = None) -> go.Figure:
    """ROC per run; ``curves`` keys are ``"<run> · all"`` / ``"<run> · seen"``.

    One legend entry per run (a click hides both of its curves); line styles in grey.
    ``colors`` maps a run name to its colour (default: the palette in order).
    """
    fig = go.Figure()
    colors = {**_run_colors(curves), **(colors or {})}
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


def share_above(frame: pd.DataFrame) -> np.ndarray:
    """The share of pairs scored at or above each threshold of a precision/recall frame.

    Predicted positives at a threshold are ``recall * P / precision``, and at the lowest
    threshold (the frame's first row: every pair predicted) precision is ``P / total``,
    so the share is ``recall * precision[0] / precision``; NaN where precision is 0.
    """
    precision = frame["precision"].to_numpy(dtype=float)
    recall = frame["recall"].to_numpy(dtype=float)
    if not len(precision):
        return precision
    base = precision[0] / recall[0] if recall[0] > 0 else precision[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(precision > 0, recall * base / precision, np.nan)


def threshold_panels(
    curves: Mapping[str, Mapping[str, pd.DataFrame]], score_names: Mapping[str, str] | None = None
) -> go.Figure:
    """Precision and recall versus threshold, one small panel per run.

    ``curves[run]`` maps "all" / "seen" to a frame with ``threshold``, ``precision`` and
    ``recall``. The x axis is the threshold's quantile, the share of pairs scored at or
    above it (:func:`share_above`), from the strictest threshold on the left to "every
    pair" on the right, as the method's inverted threshold axis reads: cosines, MF
    predictions and heuristic scores (Adamic-Adar runs 0 to 100+, most pairs near 0)
    live on different scales, and on a share axis every model's curve can be read
    alike. The threshold itself is in the hover text, with ``score_names`` naming it.
    Precision and recall have one colour each in every panel; all pairs solid, seen
    pairs dotted; four legend entries name exactly that.
    """
    runs = list(curves)
    n = max(len(runs), 1)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=runs or [""], horizontal_spacing=0.08,
        vertical_spacing=0.18 if rows > 1 else 0.1,
    )  # fmt: skip
    shown: set[str] = set()
    for i, run in enumerate(runs):
        row, col = i // cols + 1, i % cols + 1
        for part, dash in (("all", "solid"), ("seen", "dot")):
            frame = curves[run].get(part)
            if frame is None or not len(frame):
                continue
            share = share_above(frame)
            score = (score_names or {}).get(run, "score")
            for metric in ("precision", "recall"):
                name = f"{metric} · {part} pairs"
                fig.add_trace(
                    go.Scatter(
                        x=share, y=frame[metric], name=name, mode="lines",
                        customdata=frame["threshold"],
                        legendgroup=name, showlegend=name not in shown,
                        line={"color": SERIES_COLORS[metric], "dash": dash},
                        hovertemplate=f"{run} · {name}<br>{score} >= %{{customdata:.4g}} "
                        "(%{x:.1%} of pairs): %{y:.3f}<extra></extra>",
                    ),
                    row, col,
                )  # fmt: skip
                shown.add(name)
        fig.update_xaxes(
            title="share of pairs at or above the threshold", range=[0, 1], tickformat=".0%",
            row=row, col=col,
        )  # fmt: skip
        fig.update_yaxes(range=[0, 1.02], row=row, col=col)
    fig.update_yaxes(title="precision / recall", col=1)
    _layout(fig, "", 300 * rows + 80)
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.12 if rows > 1 else -0.25, "yanchor": "top", "x": 0},
    )
    return fig


def bucket_auc(frame: pd.DataFrame, colors: Mapping[str, str], metric: str = "auc") -> go.Figure:
    """``metric`` per degree bucket of the pair, one line per run (baselines dashed).

    ``frame`` has ``run``, ``model``, ``bucket`` (in display order) and ``metric``.
    """
    fig = go.Figure()
    order = list(dict.fromkeys(frame["bucket"]))
    for run, part in frame.groupby("run", sort=False):
        model = str(part["model"].iloc[0])
        part = part.set_index("bucket").reindex(order).reset_index()
        fig.add_trace(
            go.Scatter(
                x=part["bucket"], y=part[metric], name=str(run), mode="lines+markers",
                line={"color": colors.get(run, model_color(model)),
                      "dash": BASELINE_DASH if model in BASELINES else "solid"},
                hovertemplate=f"{run}<br>bucket %{{x}}: {metric} %{{y:.4f}}<extra></extra>",
            )
        )  # fmt: skip
    if metric == "auc":
        _chance_line(fig, frame[metric].tolist())
        fig.update_yaxes(title="AUC")
    else:
        fig.update_yaxes(title={"ndcg": "NDCG@10", "hit_rate": "HitRate@10"}.get(metric, metric))
    fig.update_xaxes(title="degree bucket of the pair (train graph)", type="category")
    return _layout(fig, "", 380)


SEEN_COLORS = {
    "seen": "#1f77b4",
    "unseen · cold-start vector": "#ff7f0e",
    "unseen": "#d62728",
}


def _ordered_colors(values: list[str]) -> dict[str, str]:
    """Colours along Viridis for ordered categories (degree buckets, decades, prices)."""
    from plotly.colors import sample_colorscale

    if len(values) == 1:
        return {values[0]: "#31688e"}
    picks = sample_colorscale("Viridis", [i / (len(values) - 1) * 0.9 for i in range(len(values))])
    return dict(zip(values, picks, strict=True))


def embedding_map(
    frame: pd.DataFrame,
    color: str,
    highlight: pd.DataFrame | None = None,
    order: list[str] | None = None,
) -> go.Figure:
    """Scatter of a 2-D projection coloured by ``color``; highlighted products on top.

    ``frame`` has x, y, label (hover) and the colour column; ``highlight`` has x, y,
    label and role ("chosen" or "neighbour"). ``order`` lists the values of an ordered
    column (degree bucket, decade): they get colours along one scale, in that order.
    Other columns get up to 24 well-separated colours, the rarest values grouped as
    "(other)"; a missing value is light grey "(none)".
    """
    fig = go.Figure()
    values = frame[color]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and order is None:
        fig.add_trace(
            go.Scattergl(
                x=frame["x"], y=frame["y"], mode="markers", hovertext=frame["label"],
                hoverinfo="text", name=color,
                marker={"size": 4, "color": values, "colorscale": "Viridis", "showscale": True,
                        "colorbar": {"title": color}, "opacity": 0.7},
            )
        )  # fmt: skip
    else:
        labels = values.astype(object).where(values.notna(), "(none)").astype(str)
        if order is not None:
            present = set(labels)
            names = [v for v in order if v in present] + sorted(
                v for v in present if v not in order
            )
            colors = {**_ordered_colors([v for v in names if v != "(none)"])}
        elif color == "seen":
            names = [v for v in SEEN_COLORS if v in set(labels)]
            colors = dict(SEEN_COLORS)
        else:
            counts = labels[labels != "(none)"].value_counts()
            top = counts.index[: len(WIDE_PALETTE) - 1].tolist()
            labels = labels.where(labels.isin([*top, "(none)"]), "(other)")
            names = top + [v for v in ("(other)", "(none)") if v in set(labels)]
            colors = dict(zip(top, WIDE_PALETTE, strict=False))
            colors["(other)"] = "#a0a0a0"
        colors["(none)"] = MISSING_COLOR
        for value in names:
            part = frame[labels == value]
            fig.add_trace(
                go.Scattergl(
                    x=part["x"], y=part["y"], mode="markers",
                    name=f"{value} ({len(part):,})",
                    hovertext=part["label"], hoverinfo="text",
                    marker={"size": 4, "opacity": 0.65, "color": colors.get(value, "#a0a0a0")},
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
    _layout(fig, "", 620)
    # Many categories: the legend reads better as a column on the right.
    fig.update_layout(legend={"orientation": "v", "x": 1.01, "y": 1, "yanchor": "top"})
    return fig


def grouped_bars(frame: pd.DataFrame, x: str, ys: list[str], title: str) -> go.Figure:
    fig = go.Figure()
    for i, y in enumerate(ys):
        fig.add_trace(
            go.Bar(x=frame[x], y=frame[y], name=y,
                   marker_color=SERIES_COLORS.get(y, PALETTE[i % len(PALETTE)]),
                   text=frame[y], texttemplate="%{text:.3f}", textposition="outside")
        )  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.1])
    return _layout(fig, title)


def coverage_sweep(
    frame: pd.DataFrame, by: str = "label", colors: Mapping[str, str] | None = None
) -> go.Figure:
    """AUC (all, seen, unseen pairs) against metadata coverage, one line per method
    (``colors``: method label -> colour, default the palette in order)."""
    panels = [c for c in ("AUC all", "AUC seen", "AUC unseen") if c in frame]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, horizontal_spacing=0.06)
    for i, (name, part) in enumerate(frame.groupby(by, sort=False)):
        part = part.sort_values("coverage")
        for col, panel in enumerate(panels, start=1):
            fig.add_trace(
                go.Scatter(
                    x=part["coverage"], y=part[panel], name=str(name), mode="lines+markers",
                    legendgroup=str(name), showlegend=col == 1,
                    line={"color": (colors or {}).get(str(name), PALETTE[i % len(PALETTE)])},
                    hovertemplate=f"{name}<br>coverage %{{x:.0%}}: {panel} %{{y:.4f}}"
                    "<extra></extra>",
                ),
                1, col,
            )  # fmt: skip
    for col, panel in enumerate(panels, start=1):
        _chance_line(fig, frame[panel].tolist(), row=1, col=col)
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


def sweep_auc(lines_by_key: Mapping[str, Mapping[str, pd.DataFrame]], title: str = "") -> go.Figure:
    """AUC against each swept setting: one panel per setting (``{setting: lines}``, lines
    from ``recsys_core.explore.sweeps.sweep_lines``), one colour per combination of the
    other settings; AUC all solid, AUC seen dotted."""
    keys = list(lines_by_key)
    fig = make_subplots(rows=1, cols=max(len(keys), 1), shared_yaxes=True, subplot_titles=keys)
    names = list(dict.fromkeys(name for lines in lines_by_key.values() for name in lines))
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    legend_done: set[str] = set()
    for col, key in enumerate(keys, start=1):
        for name, frame in lines_by_key[key].items():
            for column, dash in (("AUC all", "solid"), ("AUC seen", "dot")):
                label = f"{name} · {column.removeprefix('AUC ')}"
                fig.add_trace(
                    go.Scatter(
                        x=frame[key],
                        y=frame[column],
                        name=label,
                        legendgroup=label,
                        showlegend=label not in legend_done,
                        mode="lines+markers",
                        line={"color": colors[name], "dash": dash},
                        customdata=frame["run"],
                        hovertemplate=f"{key}=%{{x}}<br>{column} %{{y:.4f}}<br>run #%{{customdata}}"
                        "<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
                legend_done.add(label)
        fig.update_xaxes(title=key, row=1, col=col)
    fig.update_yaxes(title="AUC", row=1, col=1)
    return _layout(fig, title or "AUC against each swept setting", height=420)
