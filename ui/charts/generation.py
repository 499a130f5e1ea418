"""The Generate page's figures: the candidates for one step's next token."""

from __future__ import annotations

import plotly.graph_objects as go

from gptcore import Step

from ..figures import margins, percent, probability_bars
from ..tables import candidates_frame

CHOSEN_COLOUR, OTHER_COLOUR = "#d62728", "#9ecae1"


def step_figure(step: Step) -> go.Figure:
    frame = candidates_frame(step)
    colours = [CHOSEN_COLOUR if chosen else OTHER_COLOUR for chosen in frame["chosen"]]
    figure = probability_bars(list(frame["bar"]), frame["probability"], frame["token id"], colours)
    chosen = frame[frame["chosen"]].iloc[0]
    figure.update_layout(
        title=f"Step {step.index + 1}: chose {chosen['token']} (rank {step.rank}, {percent(step.prob)})",
        height=140 + 24 * len(frame),
        margin=margins(top=40),
    )
    return figure
