"""What the pages' figures share: the margins, probabilities as percentages, the next-token bars (Start here,
Generate, Compare) and the attention heatmap (Attention, Compare).

Every probability a student reads is a percentage with three significant figures (0.0194%, 3.47%,
45.2%): on bars, on axes, in hovers and in tables alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

MASK_GREY = "#d9d9d9"  # the background a heatmap shows through its blank (masked) cells
ALL_LABELS = 48  # a heatmap of up to this many tokens labels every one of them
STRONGEST_COLOUR = "#e6550d"  # the ring on each row's strongest key: orange stands out on white and on blue


def margins(top: int = 10) -> dict[str, int]:
    """Plotly's layout margin for a figure in a page column: tight, with room on top for a title if asked."""
    return {"l": 10, "r": 10, "t": top, "b": 10}


# A log axis labelled at 1, 2 and 5 of each power of ten ("0.1 0.2 0.5 1"): Plotly's default labels
# every digit and drops the power, so an axis reads "4 5 6 7 8 9 0.1 2 3".
LOG_AXIS = {"type": "log", "dtick": "D2", "tickformat": "~g"}
PROBABILITY_TICKS = ".4~%"  # axis ticks as percentages, with the decimals small ones need: 0.005%, 0.01%, 50%
PROBABILITY_HOVER = "%{x:.3p}"  # plotly's "p": a percentage to three significant figures, like percent()


def percent(probability: float, digits: int = 3) -> str:
    """0.1234 -> '12.3%': ``digits`` significant figures, as the pages print probabilities, and never in
    scientific notation (a tiny change reads 0.000054%, not 5.4e-05%)."""
    figures = f"{probability * 100:.{digits}g}"
    if "e" in figures:  # only tiny values (and changes) print in scientific notation: a slower, plain form
        figures = np.format_float_positional(
            probability * 100, precision=digits, unique=False, fractional=False, trim="-"
        )
    return f"{figures}%"


def percent_labels(probabilities) -> list[str]:
    """Bar labels with three significant figures, or more where two different bars would read alike.

    An untrained model's top ten differ in the fourth figure; labels that all read "0.0194%" would
    say the bars are equal when their lengths say they are not.
    """
    values = [float(p) for p in probabilities]
    for digits in range(3, 8):
        labels = [percent(p, digits) for p in values]
        if len(set(labels)) == len(set(values)):
            return labels
    return labels


def probability_bars(
    bars: list[str], probabilities, token_ids, colours: str | list[str] = "#1f77b4", highest: float | None = None
) -> go.Figure:
    """Horizontal bars of next-token candidates, most likely on top; ``highest`` fixes the axis for side by side."""
    figure = go.Figure(
        go.Bar(
            x=list(probabilities),
            y=bars,
            orientation="h",
            marker_color=colours,
            text=percent_labels(probabilities),
            textposition="auto",
            customdata=list(token_ids),
            hovertemplate="%{y}<br>id %{customdata}<br>probability " + PROBABILITY_HOVER + "<extra></extra>",
        )
    )
    xaxis = {"title": "probability", "tickformat": PROBABILITY_TICKS}
    if highest is not None:
        xaxis["range"] = [0, highest * 1.05]
    figure.update_layout(height=120 + 24 * len(bars), margin=margins(), xaxis=xaxis)
    figure.update_yaxes(autorange="reversed", type="category")
    return figure


def next_token_figure(frame: pd.DataFrame, highest: float | None = None) -> go.Figure:
    """A next_token_frame as bars "#1 token", "#2 token", …; ``highest`` sets one scale for two charts."""
    bars = [f"#{rank} {token}" for rank, token in zip(frame["rank"], frame["token"], strict=True)]
    return probability_bars(bars, frame["probability"], frame["token id"], highest=highest)


def pattern_heatmap(
    z: np.ndarray,
    labels: list[str],
    value_name: str = "weight",
    diverging: bool = False,
    zmax: float | None = None,
    height: int = 460,
    axis_titles: bool = True,
    row_scaled: bool = False,
    mark_strongest: bool = False,
) -> go.Figure:
    """One head's (T, T) scores or weights: queries down the rows, keys along the columns, masked cells blank.

    Weights run from 0 (white) to ``zmax`` (the largest weight shown, unless given: Compare passes 1
    so both models share one scale); scores are ``diverging``, centred on 0. ``row_scaled`` colours
    each row by its share of the row's largest value (z is then that share, and the hover and
    customdata keep the value itself): the first row is always a lone 1, and on one scale it would
    wash every later row out. ``mark_strongest`` rings each row's largest value.
    """
    hover = "query %{y}<br>key %{x}<br>" + value_name + " %{z:.3f}<extra></extra>"
    shown = z
    if row_scaled:
        shown = z / np.nanmax(z, axis=1, keepdims=True)  # (T, T) / (T, 1): each row's largest becomes 1
        hover = "query %{y}<br>key %{x}<br>" + value_name + " %{customdata:.3f} (%{z:.0%} of the row's largest)"
        hover += "<extra></extra>"
        zmax = 1.0
    figure = go.Figure(
        go.Heatmap(
            z=shown,
            x=labels,
            y=labels,
            customdata=z if row_scaled else None,
            colorscale="RdBu_r" if diverging else "Blues",
            zmid=0 if diverging else None,
            zmin=None if diverging else 0,
            zmax=None if diverging else (zmax if zmax is not None else float(np.nanmax(z))),  # zmin needs zmax
            colorbar={"title": {"text": "share of<br>row's max" if row_scaled else value_name}, "thickness": 12},
            hovertemplate=hover,
        )
    )
    # Plotly drops every second label of a crowded category axis; up to ALL_LABELS tokens, keep them all.
    every_label = {"dtick": 1} if len(labels) <= ALL_LABELS else {}
    if mark_strongest:
        strongest = np.nanargmax(np.where(np.isnan(z), -np.inf, z), axis=1)  # (T,) column of each row's largest
        figure.add_trace(
            go.Scatter(
                x=[labels[column] for column in strongest],
                y=labels,
                mode="markers",
                marker={"symbol": "circle-open", "size": 11, "color": STRONGEST_COLOUR, "line": {"width": 2}},
                name="strongest key",
                showlegend=False,
                hovertemplate="query %{y}<br>looks most at %{x}<extra></extra>",
            )
        )
    figure.update_layout(
        height=height,
        margin=margins(),
        plot_bgcolor=MASK_GREY,
        xaxis={"tickangle": -60, "showgrid": False, "type": "category", **every_label},
        yaxis={"autorange": "reversed", "showgrid": False, "type": "category", **every_label},
    )
    if axis_titles:
        figure.update_xaxes(title="key (the token looked at)")
        figure.update_yaxes(title="query (the token looking)")
    return figure
