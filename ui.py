"""The only Streamlit helpers shared by the pages: model choice, prompt, cached loaders, downloads.

Pages are thin views: they call ``current_trace()`` (or ``current_model()``) and draw. Shared
values live in plain session keys (MODEL_KEY, PROMPT_KEY), because widget keys vanish when the
page that drew the widget is not rendered; the prompt and model are also mirrored in the URL so a
teacher can share a link that opens the same prompt.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
import torch
from streamlit.runtime.pages_manager import PagesManager

from gptcore import GPT_CONFIG_124M, PRESETS, GPTModel, Trace, build_model, get_tokenizer, token_labels, trace
from gptcore.weights import PRETRAINED_REPOS, cached_pretrained_folder, load_hf_folder

MODEL_KEY = "model_id"  # plain session key: the chosen model's id
PROMPT_KEY = "prompt"  # plain session key: the student's prompt
DEFAULT_PROMPT = "Every effort moves you"  # the book's example sentence
MAX_PROMPT_CHARS = 20_000  # far more than any context; keeps a pasted book from stalling the page

# Intra-op threads for every forward pass: all the machine's cores, at most 8. Sessions take turns
# through COMPUTE_LOCK, so one computation at a time gets every core instead of several fighting
# over them (oversubscribed OpenMP threads slow everyone down).
torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
COMPUTE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelChoice:
    model_id: str
    label: str
    build: Callable[[], GPTModel]
    trained: bool
    about: str


PRETRAINED_LABELS = {"gpt2": "124M", "gpt2-medium": "355M", "gpt2-large": "774M", "gpt2-xl": "1.5B"}


def _pretrained_choices() -> list[ModelChoice]:
    """OpenAI's GPT-2 sizes whose weights are already in this machine's Hugging Face cache."""
    choices = []
    for name, size in PRETRAINED_LABELS.items():
        folder = cached_pretrained_folder(name)
        if folder is not None:
            choices.append(
                ModelChoice(
                    f"pretrained-{name}",
                    f"GPT-2 {size}, pretrained by OpenAI",
                    lambda folder=folder: load_hf_folder(folder),
                    trained=True,
                    about=f"OpenAI's released weights ({PRETRAINED_REPOS[name]}), read from {folder}.",
                )
            )
    return choices


MODEL_CHOICES: dict[str, ModelChoice] = {
    choice.model_id: choice
    for choice in (
        *_pretrained_choices(),
        ModelChoice(
            "book-124m-seed123",
            "GPT-2 124M, untrained (seed 123)",
            lambda: build_model(GPT_CONFIG_124M, seed=123),
            trained=False,
            about="Chapter 4 of the book exactly: GPT_CONFIG_124M built right after torch.manual_seed(123).",
        ),
        ModelChoice(
            "tiny-seed123",
            "Tiny GPT, untrained (2 layers, 4 heads)",
            lambda: build_model(PRESETS["tiny"], seed=123),
            trained=False,
            about="A miniature of the same architecture: 32-dimensional vectors, 64-token context. Fast.",
        ),
    )
}
DEFAULT_MODEL_ID = "book-124m-seed123"


def ensure_app_frame() -> None:
    """Make sure this page runs inside app.py's frame (navigation, sidebar, page config).

    Streamlit treats a folder named pages/ as an old-style multipage app until the first
    st.navigation call in the server process. A link to /attention opened before anyone visited
    the start page would run pages/attention.py on its own: no sidebar, no model choice. Clearing
    the flag (as st.navigation itself does) and rerunning hands the request to app.py, which
    opens the same page, since page ids come from their url paths.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@contextmanager
def computing() -> Iterator[None]:
    """Take a turn at the model: one computation at a time gets all the cores."""
    with COMPUTE_LOCK:
        yield


@st.cache_resource(show_spinner=False, max_entries=4)
def get_model(model_id: str) -> GPTModel:
    """Build or load a model once per server process; every session shares it, read-only."""
    return MODEL_CHOICES[model_id].build()


@st.cache_resource(show_spinner=False, max_entries=16, ttl=3600)
def get_trace(model_id: str, token_ids: tuple[int, ...]) -> Trace:
    """The trace of one prompt, cached per (model id, token ids); tensors are never hashed.

    A cache_resource rather than cache_data: cache_data would pickle and unpickle the whole trace
    on every rerun (tens of MB for a short prompt, over a GB at 1024 tokens), while a Trace is
    read-only, so every session asking for the same prompt can share one.
    """
    model = get_model(model_id)
    with computing():
        return trace(model, token_ids)


def current_model_id() -> str:
    model_id = st.session_state.get(MODEL_KEY, DEFAULT_MODEL_ID)
    return model_id if model_id in MODEL_CHOICES else DEFAULT_MODEL_ID


def current_model() -> GPTModel:
    choice = MODEL_CHOICES[current_model_id()]
    with st.spinner(f"Loading {choice.label} (first use on this server builds it; this takes a few seconds)…"):
        return get_model(choice.model_id)


def current_prompt() -> str:
    return st.session_state.get(PROMPT_KEY, DEFAULT_PROMPT)


def prompt_token_ids() -> list[int]:
    """The prompt's token ids; on an empty prompt, a friendly hint and the page stops there."""
    ids = get_tokenizer().encode(current_prompt())
    if not ids:
        st.info("Type a prompt in the sidebar to see what the model does with it, e.g. *Every effort moves you*.")
        st.stop()
    return ids


def current_trace() -> Trace:
    """The cached trace of the current prompt, with a notice when the prompt had to be cropped."""
    ids = prompt_token_ids()
    model = current_model()
    with st.spinner("Running the prompt through the model…"):
        result = get_trace(current_model_id(), tuple(ids))
    if result.n_cropped:
        st.warning(
            f"The prompt has {len(ids)} tokens but this model reads at most {model.cfg.context_length}; "
            f"the first {result.n_cropped} tokens were dropped (as the book's code does)."
        )
    return result


def labels(token_ids) -> list[str]:
    """Readable, unique axis labels: each token's visible text with its position, e.g. '3:␣you'."""
    return [f"{i}:{label}" for i, label in enumerate(token_labels(list(token_ids)))]


def explain(markdown: str) -> None:
    """A short plain-language explanation at the top of a page."""
    st.markdown(markdown)


def download(label: str, make_data: Callable[[], str | bytes], file_name: str, key: str | None = None) -> None:
    """A download button whose file is built only when clicked, without rerunning the page."""
    mime = {".csv": "text/csv", ".html": "text/html"}.get(Path(file_name).suffix, "application/octet-stream")
    st.download_button(
        label, data=make_data, file_name=file_name, mime=mime, key=key or f"download_{file_name}", on_click="ignore"
    )


def csv_download(frame: pd.DataFrame, filename: str, label: str = "Download CSV", key: str | None = None) -> None:
    """Offer a table as CSV."""
    download(label, lambda: frame.to_csv(index=False), filename, key)


def figure_download(figure, filename: str, label: str = "Download figure (HTML)", key: str | None = None) -> None:
    """Offer an interactive figure as a standalone HTML file (~25 ms to build, so only on click)."""
    download(label, lambda: figure.to_html(include_plotlyjs="cdn", full_html=True), filename, key)


def remembered_choice(widget: Callable, label: str, options: list, state_key: str, **kwargs) -> object:
    """A selectbox, radio or select_slider whose choice lives in a plain session key.

    Widget keys vanish when their page is not shown; the plain key keeps the choice across page
    switches. A remembered choice that no longer exists (the new model has fewer layers) moves
    to the nearest end of the options.
    """
    widget_key = f"{state_key}_box"
    value = st.session_state.get(state_key, options[0])
    if value not in options:
        too_big = isinstance(value, int) and isinstance(options[-1], int) and value > options[-1]
        value = options[-1] if too_big else options[0]
    st.session_state[state_key] = value
    st.session_state[widget_key] = value

    def remember() -> None:
        st.session_state[state_key] = st.session_state[widget_key]

    return widget(label, options, key=widget_key, on_change=remember, **kwargs)


def _on_prompt_change() -> None:
    text = st.session_state["_prompt_box"][:MAX_PROMPT_CHARS]
    st.session_state[PROMPT_KEY] = text
    st.query_params["prompt"] = text


def _on_model_change() -> None:
    st.session_state[MODEL_KEY] = st.session_state["_model_box"]
    st.query_params["model"] = st.session_state[MODEL_KEY]


def init_state() -> None:
    """First run of a session: take prompt and model from the URL (a shared link) or defaults."""
    if PROMPT_KEY not in st.session_state:
        st.session_state[PROMPT_KEY] = str(st.query_params.get("prompt", DEFAULT_PROMPT))[:MAX_PROMPT_CHARS]
    if MODEL_KEY not in st.session_state:
        from_url = st.query_params.get("model", DEFAULT_MODEL_ID)
        st.session_state[MODEL_KEY] = from_url if from_url in MODEL_CHOICES else DEFAULT_MODEL_ID
    # Keep the URL in step with the state on every page, so any page's link can be shared.
    st.query_params["prompt"] = st.session_state[PROMPT_KEY]
    st.query_params["model"] = current_model_id()


def render_sidebar() -> None:
    """The one sidebar every page shares: model, prompt, and what the model is."""
    init_state()
    with st.sidebar:
        st.session_state["_model_box"] = current_model_id()
        st.selectbox(
            "Model",
            options=list(MODEL_CHOICES),
            format_func=lambda model_id: MODEL_CHOICES[model_id].label,
            key="_model_box",
            on_change=_on_model_change,
        )
        choice = MODEL_CHOICES[current_model_id()]
        st.caption(choice.about)
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
        if not choice.trained:
            st.warning(
                "**Untrained model**: its weights are random, so it writes gibberish by design, like the "
                "book's *Hello, I am Featureiman Byeswickattribute argue*. Every number inside is still real. "
                "For sensible text, pick a pretrained GPT-2 (the README says how to get its weights).",
                icon="🎲",
            )
