"""The Residual stream page's figures: the stream's size per layer, and lines per shortcut setting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..figures import LOG_AXIS, PROBABILITY_TICKS, margins

MAX_CELL_TEXT_TOKENS = 40  # beyond this many tokens, heatmap cells are too narrow to print labels

SETTING_COLOURS = {"shortcuts on": "#1f77b4", "shortcuts off": "#d62728"}


def compact_layout(figure: go.Figure, height: int) -> go.Figure:
    return figure.update_layout(height=height, margin=margins(top=40))


def lines_by_setting(frame: pd.DataFrame, x: str, y: str) -> list[go.Scatter]:
    """One line per shortcut setting (graph_objects: plotly.express takes ~40 ms per figure)."""
    return [
        go.Scatter(x=part[x], y=part[y], name=setting, mode="lines+markers", line={"color": SETTING_COLOURS[setting]})
        for setting, part in frame.groupby("setting", sort=False)
    ]


def log_line(frame: pd.DataFrame, column: str, title: str) -> go.Figure:
    figure = go.Figure(lines_by_setting(frame, "block", column))
    figure.update_layout(title=title, legend={"orientation": "h", "y": -0.2})
    figure.update_xaxes(dtick=1, title="block")
    figure.update_yaxes(**LOG_AXIS, title=column)
    return compact_layout(figure, height=360)


def stream_heatmap(z: np.ndarray, tokens: list[str], streams: list[str], height: int, **style) -> go.Figure:
    """Places in the stream down the rows, the prompt's tokens across; ``style`` adds go.Heatmap's settings."""
    figure = go.Figure(go.Heatmap(z=z, x=tokens, y=streams, **style))
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(type="category")
    return compact_layout(figure, height=height)


def norms_heatmap(norms: np.ndarray, tokens: list[str], streams: list[str]) -> go.Figure:
    """(L + 1, T) lengths of each token's residual vector at each place in the stream."""
    return stream_heatmap(
        norms,
        tokens,
        streams,
        height=max(300, 28 * len(streams) + 120),
        colorscale="Viridis",
        colorbar={"title": "norm"},
        hovertemplate="%{y}<br>token %{x}<br>norm %{z:.2f}<extra></extra>",
    )


def mean_norm_line(streams: list[str], mean_norms: np.ndarray) -> go.Figure:
    figure = go.Figure(go.Scatter(x=streams, y=mean_norms, mode="lines+markers"))
    figure.update_xaxes(type="category")
    figure.update_yaxes(title="mean norm")
    return compact_layout(figure, height=320)


def lens_heatmap(top_probs: np.ndarray, top_labels: np.ndarray, tokens: list[str], streams: list[str]) -> go.Figure:
    """(L + 1, P) the top-1 probability at each place and position, its token printed when the cells are wide enough."""
    return stream_heatmap(
        top_probs,
        tokens,
        streams,
        height=max(320, 30 * len(streams) + 140),
        text=top_labels,
        texttemplate="%{text}" if len(tokens) <= MAX_CELL_TEXT_TOKENS else None,
        textfont={"size": 10},
        colorscale="Blues",
        colorbar={"title": "top-1 prob.", "tickformat": PROBABILITY_TICKS},
        hovertemplate="%{y}<br>after %{x}<br>top token %{text}<br>probability %{z:.3p}<extra></extra>",
    )


def toy_experiment_figure(frame: pd.DataFrame) -> go.Figure:
    """The book's five-layer network: mean absolute gradient per layer, with and without shortcuts."""
    figure = go.Figure(
        [
            go.Bar(
                x=part["layer"], y=part["mean absolute gradient"], name=setting, marker_color=SETTING_COLOURS[setting]
            )
            for setting, part in frame.groupby("setting", sort=False)
        ]
    )
    figure.update_layout(barmode="group")
    figure.update_xaxes(dtick=1, title="layer")
    figure.update_yaxes(type="log", dtick=1, tickformat="~g", title="mean absolute gradient")  # a tick per power of 10
    return compact_layout(figure, height=360)
