"""What the pages' figures share: the margins, percent labels, and the attention heatmap (Attention, Compare)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

MASK_GREY = "#d9d9d9"  # the background a heatmap shows through its blank (masked) cells


def margins(top: int = 10) -> dict[str, int]:
    """Plotly's layout margin for a figure in a page column: tight, with room on top for a title if asked."""
    return {"l": 10, "r": 10, "t": top, "b": 10}


def percent(probability: float) -> str:
    """0.1234 -> '12.3%': three significant figures, as the pages print probabilities."""
    return f"{probability * 100:.3g}%"


def pattern_heatmap(
    z: np.ndarray,
    labels: list[str],
    value_name: str = "weight",
    diverging: bool = False,
    zmax: float | None = None,
    height: int = 460,
    axis_titles: bool = True,
) -> go.Figure:
    """One head's (T, T) scores or weights: queries down the rows, keys along the columns, masked cells blank.

    Weights run from 0 (white) to ``zmax`` (the largest weight shown, unless given: Compare passes 1
    so both models share one scale); scores are ``diverging``, centred on 0.
    """
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale="RdBu_r" if diverging else "Blues",
            zmid=0 if diverging else None,
            zmin=None if diverging else 0,
            zmax=None if diverging else (zmax if zmax is not None else float(np.nanmax(z))),  # zmin needs zmax
            colorbar={"title": {"text": value_name}, "thickness": 12},
            hovertemplate="query %{y}<br>key %{x}<br>" + value_name + " %{z:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=height,
        margin=margins(),
        plot_bgcolor=MASK_GREY,
        xaxis={"tickangle": -60, "showgrid": False, "type": "category"},
        yaxis={"autorange": "reversed", "showgrid": False, "type": "category"},
    )
    if axis_titles:
        figure.update_xaxes(title="key (the token looked at)")
        figure.update_yaxes(title="query (the token looking)")
    return figure
