"""The Feed-forward page's figures: GELU against ReLU, the widening, the activations per layer, the top neurons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from ..figures import margins


def curves_figure(curves: pd.DataFrame) -> go.Figure:
    figure = px.line(curves, x="x", y=["GELU", "ReLU"], labels={"value": "output", "variable": ""})
    figure.update_traces(selector={"name": "ReLU"}, line_dash="dash")
    figure.update_layout(height=320, margin=margins(), legend={"x": 0.02, "y": 0.98})
    return figure


def expansion_figure(emb_dim: int) -> go.Figure:
    """Three bars, as wide as the vectors they stand for: in, hidden (4x), out."""
    stages = [f"in: {emb_dim}", f"hidden: {4 * emb_dim}", f"out: {emb_dim}"]
    figure = go.Figure(
        go.Bar(
            x=[emb_dim, 4 * emb_dim, emb_dim],
            y=stages,
            orientation="h",
            marker_color=["#1f77b4", "#ff7f0e", "#1f77b4"],
            text=["token vector", "after layers[0] and GELU", "after layers[2]"],
            textposition="inside",
            hovertemplate="%{y} numbers<extra></extra>",
        )
    )
    figure.update_layout(
        height=200,
        margin=margins(),
        yaxis={"autorange": "reversed"},
        xaxis_title="numbers per token",
    )
    return figure


def summary_figure(summary: pd.DataFrame, layer: int) -> go.Figure:
    """One box per layer from precomputed quartiles and whiskers; the chosen layer in orange."""
    figure = go.Figure()
    for chosen, color in ((False, "#1f77b4"), (True, "#ff7f0e")):
        rows = summary[(summary["layer"] == layer) == chosen]
        figure.add_trace(
            go.Box(
                x=[f"layer {i}" for i in rows["layer"]],
                q1=rows["q1"],
                median=rows["median"],
                q3=rows["q3"],
                lowerfence=rows["lower_fence"],
                upperfence=rows["upper_fence"],
                mean=rows["mean"],
                marker_color=color,
                showlegend=False,
            )
        )
    # The extremes beyond the whiskers, as one marker per layer rather than thousands of outliers.
    figure.add_trace(
        go.Scatter(
            x=[f"layer {i}" for i in summary["layer"]],
            y=summary["max"],
            mode="markers",
            marker={"symbol": "triangle-up", "color": "#555"},
            name="largest activation",
        )
    )
    figure.update_layout(
        boxmode="overlay",
        height=340,
        margin=margins(),
        xaxis={"categoryorder": "array", "categoryarray": [f"layer {i}" for i in summary["layer"]]},
        yaxis_title="activation after GELU",
        legend={"orientation": "h", "y": 1.08, "x": 1, "xanchor": "right"},
    )
    return figure


def histogram_figure(counts: pd.DataFrame) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=counts["bin_center"],
            y=counts["count"],
            width=(counts["bin_right"] - counts["bin_left"]).to_numpy(),
            marker_color="#ff7f0e",
            hovertemplate="%{x:.2f}: %{y} activations<extra></extra>",
        )
    )
    figure.update_layout(
        height=340,
        margin=margins(),
        xaxis_title="activation after GELU",
        yaxis_title="how many",
    )
    return figure


def neuron_heatmap(neurons: np.ndarray, activations: np.ndarray, labels: list[str]) -> go.Figure:
    """Rows: the strongest neurons, columns: tokens; colour: the neuron's activation for that token."""
    figure = go.Figure(
        go.Heatmap(
            z=activations,
            x=labels,
            y=[f"neuron {n}" for n in neurons],
            colorscale="Oranges",
            colorbar={"title": {"text": "activation"}, "thickness": 12},
            hovertemplate="%{y}<br>token %{x}<br>activation %{z:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=120 + 18 * len(neurons),
        margin=margins(),
        xaxis={"tickangle": -60},
        yaxis={"autorange": "reversed"},
    )
    return figure
