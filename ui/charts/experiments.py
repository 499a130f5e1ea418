"""The Experiments page's figures: next-token bars before and after, the head-importance and patching maps."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..figures import PROBABILITY_HOVER, PROBABILITY_TICKS, margins


def before_after_figure(tokens: list[str], before: np.ndarray, after: np.ndarray) -> go.Figure:
    """Each token's probability with and without the edits, on one axis (most likely before on top)."""
    figure = go.Figure(
        [
            go.Bar(y=tokens, x=values, name=name, orientation="h", hovertemplate="%{y}<br>" + PROBABILITY_HOVER)
            for name, values in (("before", before), ("after the edits", after))
        ]
    )
    figure.update_layout(
        barmode="group",
        height=140 + 36 * len(tokens),
        margin=margins(),
        xaxis={"title": "probability", "tickformat": PROBABILITY_TICKS},
        legend={"orientation": "h", "y": 1.05, "x": 1, "xanchor": "right"},
    )
    figure.update_yaxes(autorange="reversed", type="category")
    return figure


def importance_figure(change: np.ndarray) -> go.Figure:
    """(L, H) the change in the token's probability when each head alone is off; red lowers it."""
    layers, heads = change.shape
    edge = float(np.abs(change).max()) or 1e-12
    figure = go.Figure(
        go.Heatmap(
            z=change,
            x=list(range(heads)),
            y=list(range(layers)),
            colorscale="RdBu",
            zmid=0,
            zmin=-edge,
            zmax=edge,
            colorbar={"title": {"text": "change"}, "tickformat": ".2~p", "thickness": 12},  # 0.00069%: 2 figures
            hoverinfo="skip",  # the clickable layer below answers the hover
        )
    )
    # Plotly selects points of scatter traces, not cells of a heatmap: an almost invisible square on
    # every cell makes a click select (layer, head), which the page turns into an ablation.
    grid_layers, grid_heads = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")  # (L, H) each
    figure.add_trace(
        go.Scatter(
            x=grid_heads.ravel(),
            y=grid_layers.ravel(),
            customdata=change.ravel(),
            mode="markers",
            marker={"symbol": "square", "size": 22, "opacity": 0.01, "color": "#000000"},
            showlegend=False,
            hovertemplate="layer %{y}, head %{x}<br>probability change %{customdata:+.3p}"
            "<extra>click to switch it off</extra>",
        )
    )
    figure.update_layout(height=160 + 26 * layers, margin=margins(), xaxis_title="head", yaxis_title="layer")
    figure.update_xaxes(dtick=1, range=[-0.5, heads - 0.5])  # the grid's edges, not the squares' padding
    figure.update_yaxes(dtick=1, range=[layers - 0.5, -0.5])  # layer 0 on top
    return figure


def patching_figure(restored: np.ndarray, labels: list[str]) -> go.Figure:
    """(L, T) the share of the clean answer each patch restores: 0 nothing, 1 all of it."""
    figure = go.Figure(
        go.Heatmap(
            z=restored,
            x=labels,
            y=list(range(restored.shape[0])),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": {"text": "restored"}, "tickformat": ".0%", "thickness": 12},
            hovertemplate="block %{y}, position %{x}<br>restores %{z:.0%}<extra></extra>",
        )
    )
    figure.update_layout(height=160 + 26 * restored.shape[0], margin=margins())
    figure.update_xaxes(type="category", tickangle=-60, title="position (the corrupted prompt's token)")
    figure.update_yaxes(dtick=1, autorange="reversed", title="block the stream enters")
    return figure
