"""The frame every page shares: app.py's navigation and sidebar (model, prompt, what the model is)."""

from __future__ import annotations

import streamlit as st

from gptcore import get_tokenizer

from .catalog import DEFAULT_MODEL_ID, find_choice, is_ready, unverified_warning
from .classroom.membership import PAGE_KEY
from .classroom.sidebar import render_class_sidebar
from .display import presenter_toggle
from .models import MODEL_KEY, current_choice, current_model_id
from .own_model import render_own_model
from .picker import WANTED_KEY, choose_model, render_model_picker
from .remembered import keep_opening_link
from .state import DEFAULT_PROMPT, MAX_PROMPT_CHARS, PROMPT_KEY, current_prompt

MAX_LINK_PROMPT_CHARS = 2_000  # longer prompts stay out of the address: proxies reject URLs past ~8 kB


def _put_prompt_in_link(text: str) -> None:
    if len(text) <= MAX_LINK_PROMPT_CHARS:
        st.query_params["prompt"] = text
    else:
        st.query_params.pop("prompt", None)


def _on_prompt_change() -> None:
    text = st.session_state["_prompt_box"][:MAX_PROMPT_CHARS]
    st.session_state[PROMPT_KEY] = text
    _put_prompt_in_link(text)


def init_state() -> None:
    """Take prompt and model from the URL (a shared link) on a session's first run, or defaults.

    A linked model that is not downloaded yet (or would not fit in memory) is offered in the
    picker while the session starts on the default model. The link's other parameters (layer,
    head, generation settings, step) are kept for the pages' remembered choices.
    """
    keep_opening_link()
    if PROMPT_KEY not in st.session_state:
        st.session_state[PROMPT_KEY] = str(st.query_params.get("prompt", DEFAULT_PROMPT))[:MAX_PROMPT_CHARS]
    if MODEL_KEY not in st.session_state:
        st.session_state[MODEL_KEY] = DEFAULT_MODEL_ID
        choose_model(st.query_params.get("model", DEFAULT_MODEL_ID))
    in_use = find_choice(st.session_state[MODEL_KEY])
    if in_use is not None and not is_ready(in_use):  # e.g. its files were deleted from the cache
        st.session_state[MODEL_KEY] = DEFAULT_MODEL_ID
        st.session_state[WANTED_KEY] = in_use.model_id
    # Keep the URL in step with the state on every page, so any page's link can be shared.
    _put_prompt_in_link(st.session_state[PROMPT_KEY])
    st.query_params["model"] = current_model_id()


def render_sidebar(page: str = "") -> None:
    """The one sidebar every page shares: model, prompt, what the model is, and the class.
    ``page`` is the url path of the page it is drawn for ("" for Start here)."""
    st.session_state[PAGE_KEY] = page
    init_state()
    with st.sidebar:
        render_model_picker()
        render_own_model()
        st.session_state["_prompt_box"] = current_prompt()
        st.text_area(
            "Prompt",
            key="_prompt_box",
            on_change=_on_prompt_change,
            height=100,
            max_chars=MAX_PROMPT_CHARS,
            help="Press Ctrl+Enter (or click outside the box) to run it. "
            "The link in the address bar opens this prompt.",
        )
        n_tokens = len(get_tokenizer().encode(current_prompt()))
        st.caption(f"{n_tokens} token{'s' if n_tokens != 1 else ''}")
        if not current_choice().trained:
            st.warning(
                "**Untrained model**: its weights are random, so it writes gibberish by design, like the "
                "book's *Hello, I am Featureiman Byeswickattribute argue*. Every number inside is still real. "
                "For sensible text, pick a GPT-2 pretrained by OpenAI in the Model list above.",
                icon="🎲",
            )
        unverified = unverified_warning(current_choice())
        if unverified:
            st.warning(unverified, icon="⚠️")
        presenter_toggle()
        render_class_sidebar()
