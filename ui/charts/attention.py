"""The Attention page's figures: one head's pattern, a layer's heads side by side, every layer at a glance."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gptcore.heads import tile_patterns

from ..figures import margins


def tiled_heatmap(image: np.ndarray, tile_size: int, n_cols: int, height: int) -> go.Figure:
    """A heatmap of tiles made by tile_patterns, without axes; callers label the tiles."""
    figure = go.Figure(
        go.Heatmap(
            z=image.astype(np.float32),
            colorscale="Blues",
            zmin=0,
            zmax=float(np.nanmax(image)),
            colorbar={"title": {"text": "weight"}, "thickness": 12},
            hovertemplate="weight %{z:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=height,
        margin=margins(top=30),
        plot_bgcolor="rgba(0,0,0,0)",  # the page shows through: white, or dark in the dark theme
        xaxis={"showgrid": False, "zeroline": False, "constrain": "domain"},
        yaxis={"showgrid": False, "zeroline": False, "autorange": "reversed", "scaleanchor": "x"},
    )
    return figure


def layer_multiples(thumbnails: np.ndarray, chosen_head: int) -> go.Figure:
    """Every head of one layer (H, S, S) as small multiples, the chosen head framed in red."""
    n_heads, size, _ = thumbnails.shape
    n_cols = min(n_heads, 6)
    n_rows = -(-n_heads // n_cols)
    figure = tiled_heatmap(tile_patterns(thumbnails, n_cols), size, n_cols, height=50 + 170 * n_rows)
    step = size + 1
    # Head names as one text trace: a dozen separate annotations cost tens of milliseconds per rerun.
    rows, cols = np.divmod(np.arange(n_heads), n_cols)
    figure.add_trace(
        go.Scatter(
            x=cols * step + (size - 1) / 2,
            y=rows * step - 0.6,
            text=[f"head {h}" for h in range(n_heads)],
            mode="text",
            textposition="top center",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    row, col = divmod(chosen_head, n_cols)
    figure.add_shape(
        type="rect",
        x0=col * step - 0.5,
        x1=col * step + size - 0.5,
        y0=row * step - 0.5,
        y1=row * step + size - 0.5,
        line={"color": "crimson", "width": 3},
    )
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(showticklabels=False)
    return figure


def glance_figure(image: np.ndarray, n_layers: int, n_heads: int) -> go.Figure:
    """The tiled every-layer image, with heads along the top and layers down the side."""
    size = (image.shape[1] + 1) // n_heads - 1
    step = size + 1
    figure = tiled_heatmap(image, size, n_heads, height=80 + 55 * n_layers)
    centers = [i * step + (size - 1) / 2 for i in range(max(n_layers, n_heads))]
    figure.update_xaxes(tickvals=centers[:n_heads], ticktext=[f"h{h}" for h in range(n_heads)], side="top")
    figure.update_yaxes(tickvals=centers[:n_layers], ticktext=[f"layer {i}" for i in range(n_layers)])
    return figure


def statistic_figure(grid: np.ndarray, statistic: str, highest: float, layer: int, head: int) -> go.Figure:
    """Layers x heads heatmap of one per-head statistic on a fixed 0..highest scale, the chosen head framed.

    A fixed scale keeps the picture honest: an untrained model's near-identical heads look alike
    instead of having tiny differences stretched over the whole colour range.
    """
    n_layers, n_heads = grid.shape
    figure = go.Figure(
        go.Heatmap(
            z=grid,
            x=[f"h{h}" for h in range(n_heads)],
            y=[f"layer {i}" for i in range(n_layers)],
            colorscale="Viridis",
            zmin=0,
            zmax=highest,
            text=np.round(grid, 2),
            texttemplate="%{text}" if grid.size <= 200 else None,
            colorbar={"title": {"text": statistic}, "thickness": 12},
            hovertemplate="%{y}, %{x}<br>" + statistic + " %{z:.3f}<extra></extra>",
        )
    )
    figure.add_shape(
        type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5, line={"color": "crimson", "width": 3}
    )
    figure.update_layout(
        height=80 + 32 * n_layers,
        margin=margins(),
        yaxis={"autorange": "reversed"},
    )
    return figure
