"""The Tokens page's figures: heatmaps of embedding vectors and their similarities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from ..figures import margins


def heatmap(matrix: np.ndarray, row_labels: list[str], x_title: str, colour_title: str, **style) -> go.Figure:
    """Rows = tokens, columns = dimensions (or positions), diverging colours centred on 0."""
    limit = float(np.abs(matrix).max()) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            y=row_labels,
            colorscale="RdBu_r",
            zmid=0,
            zmin=style.pop("zmin", -limit),
            zmax=style.pop("zmax", limit),
            colorbar={"title": {"text": colour_title}},
            hovertemplate=style.pop("hovertemplate", "%{y}<br>dimension %{x}<br>value %{z:.4f}<extra></extra>"),
            **({"x": style.pop("x")} if "x" in style else {}),
        )
    )
    figure.update_yaxes(autorange="reversed", type="category", title=None)
    figure.update_xaxes(title=x_title)
    figure.update_layout(
        height=style.pop("height", max(260, min(900, 22 * len(row_labels) + 120))),
        margin=margins(),
        **style,
    )
    return figure


def pca_scatter(pca_frame: pd.DataFrame, ratio: np.ndarray, show_text: bool) -> go.Figure:
    """The prompt's distinct tokens placed by their first two principal components (columns pc1, pc2)."""
    scatter = px.scatter(
        pca_frame,
        x="pc1",
        y="pc2",
        text="token" if show_text else None,
        hover_data={"token": True, "id": True, "pc1": ":.3f", "pc2": ":.3f"},
        labels={
            "pc1": f"direction 1 ({ratio[0]:.1%} of the variance)",
            "pc2": f"direction 2 ({ratio[1]:.1%} of the variance)",
        },
    )
    scatter.update_traces(textposition="top center", marker={"size": 10})
    return scatter.update_layout(height=480, margin=margins())
