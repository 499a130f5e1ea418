"""The Train page's figures: the loss curves and the gradient norms of a run, as it goes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ..figures import LOG_AXIS, margins
from ..tables import grad_norm_frame, loss_frame
from ..training import TrainingRun

if TYPE_CHECKING:
    from gptcore.memorisation import Memorising

# The batch line is grey, not a paler blue: next to the evaluated training loss it must read as another kind of line.
COLOURS = {"train (this batch)": "#b0b0b0", "train": "#1f77b4", "validation": "#ff7f0e"}


def loss_figure(run: TrainingRun, memorising: Memorising | None = None) -> go.Figure:
    """Each batch's loss and the evaluations' train and validation losses; a dashed line at the best step."""
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
    if memorising is not None:
        figure.add_vline(
            x=memorising.best_step,
            line={"dash": "dash", "color": COLOURS["validation"], "width": 1.5},
            annotation={"text": f"best validation: step {memorising.best_step}", "yanchor": "bottom"},
            annotation_position="bottom right",
        )
    return over_the_run(figure, run, 360, {"title": "loss (cross-entropy)", "rangemode": "tozero"})


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
    return over_the_run(figure, run, 320, {"title": "gradient norm", **LOG_AXIS})


def over_the_run(figure: go.Figure, run: TrainingRun, height: int, yaxis: dict) -> go.Figure:
    """The layout both figures share: steps across, the whole run's length, the legend above on the right."""
    figure.update_layout(
        height=height,
        margin=margins(),
        xaxis={"title": "step", "range": [0, run.settings.max_steps]},
        yaxis=yaxis,
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
    )
    return figure
