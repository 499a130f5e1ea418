"""The Compare page's two models: picked, loaded and run on the prompt, each drawn in its own column."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import streamlit as st

from gptcore import GPTModel, Trace
from gptcore.footprint import trace_bytes

from .catalog import CHECKPOINT_PREFIX, DEFAULT_MODEL_ID, ModelChoice, is_ready, picker_label
from .memory import memory_refusal
from .models import current_model_id, get_model, refusal
from .remembered import remembered_choice
from .state import COMPARE_TITLES_KEY
from .traces import get_trace
from .widgets import clamp_index

FALLBACK_ID = "tiny-seed123"  # set beside the sidebar's model when no trained checkpoint exists
MAX_TITLE_CHARS = 42  # a column heading longer than this would wrap and push its charts out of line


@dataclass(frozen=True)
class Side:
    """One model of the pair, loaded and run on the prompt."""

    choice: ModelChoice
    model: GPTModel
    trace: Trace

    @property
    def key(self) -> tuple[str, tuple[int, ...]]:  # what every cached figure of this side is keyed by
        return self.choice.model_id, tuple(self.trace.token_ids.tolist())


def default_pair(choices: dict[str, ModelChoice]) -> tuple[str, str]:
    """The sidebar's model, and the newest trained checkpoint (or a small untrained model) to set beside it."""
    left = current_model_id()
    checkpoints = [
        model_id
        for model_id, choice in choices.items()
        if model_id.startswith(CHECKPOINT_PREFIX) and choice.trained and model_id != left
    ]  # newest first, as the picker lists them
    if checkpoints:
        return left, checkpoints[0]
    return left, FALLBACK_ID if left != FALLBACK_ID else DEFAULT_MODEL_ID


def pick_model(label: str, state_key: str, choices: dict[str, ModelChoice], default: str) -> ModelChoice:
    if st.session_state.get(state_key) not in choices:  # first visit, or its checkpoint file was deleted
        st.session_state[state_key] = default
    model_id = remembered_choice(
        st.selectbox, label, list(choices), state_key, format_func=lambda i: picker_label(choices[i])
    )
    return choices[model_id]


def load_side(choice: ModelChoice, token_ids: list[int]) -> Side | None:
    """The model and its trace of the prompt; None, with the reason on screen, when it cannot be run."""
    if not is_ready(choice):
        st.info(
            f"{choice.short_name}'s weights are not on this server yet. Pick it in the sidebar's Model list "
            "to download it, then come back."
        )
        return None
    refused = refusal(choice)
    if refused:
        st.error(refused)
        return None
    try:
        with st.spinner(choice.loading_text):
            model = get_model(choice.model_id)
    except Exception as error:  # a damaged checkpoint must not take the other column down with it
        st.error(f"Could not load {choice.short_name}: {error}")
        return None
    context = model.cfg.context_length
    kept = token_ids[-context:]
    if len(kept) < len(token_ids):
        st.caption(f"This model reads at most {context} tokens: only the prompt's last {context} are used.")
    refused = memory_refusal(f"Tracing {len(kept)} tokens", trace_bytes(model.cfg, len(kept)))
    if refused:
        st.error(refused.replace("Pick a smaller model", "Try a shorter prompt or a smaller model"))
        return None
    with st.spinner("Running the prompt through the model…"):
        return Side(choice, model, get_trace(choice.model_id, tuple(kept)))


def side_title(choice: ModelChoice) -> str:
    """ "Before training" / "After training (200 steps)" for the pair Train set; else the model's name, kept short
    so that both columns' headings take one line and the charts below them line up."""
    titled = st.session_state.get(COMPARE_TITLES_KEY, {}).get(choice.model_id)
    name = titled or choice.short_name
    return name if len(name) <= MAX_TITLE_CHARS else name[: MAX_TITLE_CHARS - 1] + "…"


def each_side(sides: list[Side | None], detail: Callable[[Side], str] | None = None) -> Iterator[tuple[int, Side]]:
    """Each loaded model in its own column under its title; the loop's body draws into that column."""
    for index, (column, side) in enumerate(zip(st.columns(2), sides, strict=True)):
        if side is not None:
            with column:
                st.markdown(f"**{side_title(side.choice)}**" + (f": {detail(side)}" if detail else ""))
                yield index, side


def shown_view(side: Side, layer: int, head: int) -> tuple[int, int]:
    """The chosen layer and head, or this model's last ones when it has fewer."""
    return clamp_index(layer, side.trace.n_layers), clamp_index(head, side.trace.n_heads)
