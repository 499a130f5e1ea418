"""The session's prompt: a plain session key, mirrored in the URL so a link opens the same prompt."""

from __future__ import annotations

import streamlit as st

PROMPT_KEY = "prompt"  # plain session key: the student's prompt
DEFAULT_PROMPT = "Every effort moves you"  # the book's example sentence
MAX_PROMPT_CHARS = 20_000  # far more than any context; keeps a pasted book from stalling the page


def current_prompt() -> str:
    return st.session_state.get(PROMPT_KEY, DEFAULT_PROMPT)
