"""The LayerNorm page's figures: each token's mean and variance before and after, the values, the scale and shift."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..figures import margins

BEFORE_COLOR, AFTER_COLOR = "#7f7f7f", "#1f77b4"


def stats_figure(stats: pd.DataFrame, labels: list[str]) -> go.Figure:
    """Mean (top) and variance (bottom) of every token, before and after the norm, as grouped bars."""
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=("mean", "variance")
    )
    for row, statistic in ((1, "mean"), (2, "var")):
        for stage, color in (("before", BEFORE_COLOR), ("after", AFTER_COLOR)):
            figure.add_trace(
                go.Bar(
                    x=labels,
                    y=stats[f"{statistic}_{stage}"],
                    name=stage,
                    marker_color=color,
                    legendgroup=stage,
                    showlegend=row == 1,
                    hovertemplate="%{x}<br>" + f"{statistic} {stage}" + " %{y:.4g}<extra></extra>",
                ),
                row=row,
                col=1,
            )
    figure.update_layout(
        barmode="group",
        height=420,
        margin=margins(top=30),
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
    )
    figure.update_xaxes(tickangle=-60)
    figure.update_yaxes(tickformat=".3~g")  # means are tiny; default ticks round 0.005 and 0.01 alike
    return figure


def histogram_figure(histograms: pd.DataFrame) -> go.Figure:
    """Overlaid histograms of every value entering and leaving the norm."""
    figure = go.Figure()
    for stage, color in (("before", BEFORE_COLOR), ("after", AFTER_COLOR)):
        part = histograms[histograms["stage"] == stage]
        figure.add_trace(
            go.Bar(
                x=part["bin_center"],
                y=part["count"],
                width=(part["bin_right"] - part["bin_left"]).to_numpy(),
                name=f"{stage} the norm",
                marker_color=color,
                opacity=0.55,
                hovertemplate="%{x:.2f}: %{y} values<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="overlay",
        height=340,
        margin=margins(),
        xaxis_title="value",
        yaxis_title="how many values",
        legend={"orientation": "h", "y": 1.08, "x": 1, "xanchor": "right"},
    )
    return figure


def parameters_figure(parameters: pd.DataFrame, norm: str) -> go.Figure:
    """The learned scale and shift of one norm, one point per dimension."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("scale (multiplies)", "shift (adds)"))
    for col, part in ((1, "scale"), (2, "shift")):
        figure.add_trace(
            go.Scatter(
                x=parameters["dimension"],
                y=parameters[f"{norm}_{part}"],
                mode="lines",
                name=part,
                showlegend=False,
                hovertemplate="dimension %{x}<br>" + part + " %{y:.4f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    figure.update_xaxes(title_text="dimension")
    figure.update_layout(height=280, margin=margins(top=30))
    return figure
