"""The Generate page's figures: the candidates for one step's next token."""

from __future__ import annotations

import plotly.graph_objects as go

from gptcore import Step

from ..figures import margins, percent
from ..tables import candidates_frame

CHOSEN_COLOUR, OTHER_COLOUR = "#d62728", "#9ecae1"


def step_figure(step: Step) -> go.Figure:
    frame = candidates_frame(step)
    figure = go.Figure(
        go.Bar(
            x=frame["probability"],
            y=frame["bar"],
            orientation="h",
            marker_color=[CHOSEN_COLOUR if chosen else OTHER_COLOUR for chosen in frame["chosen"]],
            text=[percent(p) for p in frame["probability"]],
            textposition="auto",
            customdata=frame["token id"],
            hovertemplate="%{y}<br>id %{customdata}<br>probability %{x:.3p}<extra></extra>",
        )
    )
    chosen = frame[frame["chosen"]].iloc[0]
    figure.update_layout(
        title=f"Step {step.index + 1}: chose {chosen['token']} (rank {step.rank}, {percent(step.prob)})",
        height=140 + 24 * len(frame),
        margin=margins(top=40),
        xaxis_title="probability",
    )
    figure.update_yaxes(autorange="reversed", type="category")
    return figure
