"""The session's plain keys: the prompt (mirrored in the URL, so a link opens it) and Compare's two models."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from .training import TrainingRun

PROMPT_KEY = "prompt"  # plain session key: the student's prompt
DEFAULT_PROMPT = "Every effort moves you"  # the book's example sentence
MAX_PROMPT_CHARS = 20_000  # far more than any context; keeps a pasted book from stalling the page
COMPARE_LEFT_KEY = "compare_left_model"  # the Compare page's plain keys, set by "Compare before and after"
COMPARE_RIGHT_KEY = "compare_right_model"
COMPARE_TITLES_KEY = "compare_titles"  # model id -> "Before" / "After", set with the pair by Train


def current_prompt() -> str:
    return st.session_state.get(PROMPT_KEY, DEFAULT_PROMPT)


def compare_before_and_after(run: TrainingRun) -> None:
    """Set the Compare page's two models to the run's starting point and its trained model."""
    titles = {}
    if run.start_model_id:
        st.session_state[COMPARE_LEFT_KEY] = run.start_model_id
        titles[run.start_model_id] = "Before training"
    if run.checkpoint_id:
        st.session_state[COMPARE_RIGHT_KEY] = run.checkpoint_id
        titles[run.checkpoint_id] = f"After training ({run.steps_done:,} steps)"
    st.session_state[COMPARE_TITLES_KEY] = titles
