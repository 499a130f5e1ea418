"""The Train page's figures: the loss curves and the gradient norms of a run, as it goes."""

from __future__ import annotations

import plotly.graph_objects as go

from ..figures import margins
from ..tables import grad_norm_frame, loss_frame
from ..training import TrainingRun

COLOURS = {"train (this batch)": "#9ecae1", "train": "#1f77b4", "validation": "#ff7f0e"}


def loss_figure(run: TrainingRun) -> go.Figure:
    frame = loss_frame(run)
    figure = go.Figure()
    for kind, part in frame.groupby("kind", sort=False):
        batch = kind == "train (this batch)"
        figure.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["loss"],
                name=kind,
                mode="lines" if batch else "lines+markers",
                line={"color": COLOURS[kind], "width": 1 if batch else 2.5},
                customdata=part["tokens seen"],
                hovertemplate="step %{x}<br>%{customdata:,} tokens seen<br>loss %{y:.3f}<extra>" + kind + "</extra>",
            )
        )
    figure.update_layout(
        height=360,
        margin=margins(),
        xaxis={"title": "step", "range": [0, run.settings.max_steps]},
        yaxis={"title": "loss (cross-entropy)", "rangemode": "tozero"},
        legend={"orientation": "h", "y": 1.1, "x": 1, "xanchor": "right"},
    )
    return figure


def grad_figure(run: TrainingRun) -> go.Figure:
    frame = grad_norm_frame(run)
    figure = go.Figure(
        [
            go.Scatter(
                x=frame["step"],
                y=frame[block],
                name=block,
                mode="lines",
                hovertemplate="step %{x}<br>gradient norm %{y:.3g}<extra>" + block + "</extra>",
            )
            for block in frame.columns[1:]
        ]
    )
    figure.update_layout(
        height=320,
        margin=margins(),
        xaxis={"title": "step", "range": [0, run.settings.max_steps]},
        yaxis={"title": "gradient norm", "type": "log"},
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
    )
    return figure
