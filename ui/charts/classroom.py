"""The Class page's figures: the model's top 10 for a round, and what the class guessed."""

from __future__ import annotations

from collections import Counter

import plotly.graph_objects as go

from ..figures import margins, probability_bars

OKABE_ORANGE, OKABE_BLUE = "#E69F00", "#0072B2"


def model_top_figure(top_tokens: list[tuple[int, str, float]], highlight: int | None = None) -> go.Figure:
    """The model's ten most likely next tokens; the student's own guess, if among them, in orange."""
    colours = [OKABE_ORANGE if token == highlight else OKABE_BLUE for token, _, _ in top_tokens]
    bars = [f"#{rank} {label}" for rank, (_, label, _) in enumerate(top_tokens, start=1)]
    return probability_bars(bars, [p for _, _, p in top_tokens], [t for t, _, _ in top_tokens], colours)


def class_guesses_figure(guess_labels: list[str], most: int = 10) -> go.Figure:
    """How many students guessed each token (the ``most`` common), most common on top."""
    counts = Counter(guess_labels).most_common(most)
    figure = go.Figure(
        go.Bar(
            x=[count for _, count in counts],
            y=[label for label, _ in counts],
            orientation="h",
            marker_color=OKABE_BLUE,
            text=[count for _, count in counts],
            textposition="auto",
            hovertemplate="%{y}: %{x} students<extra></extra>",
        )
    )
    figure.update_layout(height=120 + 24 * max(len(counts), 1), margin=margins(), xaxis={"title": "students"})
    figure.update_xaxes(dtick=1)
    figure.update_yaxes(autorange="reversed", type="category")
    return figure
