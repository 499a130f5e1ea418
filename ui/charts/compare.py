"""The Compare page's figures, drawn alike for both models so the same colour or length means the same number."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gptcore import Trace
from gptcore.heads import masked_pattern

from ..figures import LOG_AXIS, margins, pattern_heatmap
from ..widgets import labels


def attention_figure(t: Trace, layer: int, head: int, max_tokens: int) -> go.Figure:
    """One head's weights (queries down, keys across); masked cells blank, the last ``max_tokens`` of a long prompt."""
    window = slice(max(0, t.num_tokens - max_tokens), t.num_tokens)
    weights = masked_pattern(t.attention_head(layer, head)[window, window])
    token_axis = labels(t.token_ids)[window]
    # One scale for both models (zmax 1), so the same colour means the same weight.
    return pattern_heatmap(weights, token_axis, zmax=1.0, height=400, axis_titles=False)


def norm_figure(profile: pd.DataFrame, variance_range: tuple[float, float]) -> go.Figure:
    """Mean (top) and variance (bottom, log scale) entering each LayerNorm, in the order the model runs them."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, subplot_titles=("mean", "variance"))
    for row, column in ((1, "mean"), (2, "variance")):
        figure.add_trace(
            go.Scatter(
                x=profile["place"],
                y=profile[column],
                mode="lines+markers",
                showlegend=False,
                hovertemplate="%{x}<br>" + column + " %{y:.4g}<extra></extra>",
            ),
            row=row,
            col=1,
        )
    figure.update_yaxes(**LOG_AXIS, range=list(variance_range), row=2, col=1)
    figure.update_xaxes(type="category", tickangle=-60)
    figure.update_layout(height=420, margin=margins(top=30))
    return figure
