"""The prompt's trace through the session's model, computed once per (model, prompt) and shared."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
import torch

from gptcore import GPTConfig, Trace, get_tokenizer, trace

from .memory import memory_refusal
from .models import current_model, current_model_id, get_model
from .state import current_prompt

# Intra-op threads for every forward pass: all the machine's cores, at most 8. Sessions take turns
# through COMPUTE_LOCK, so one computation at a time gets every core instead of several fighting
# over them (oversubscribed OpenMP threads slow everyone down).
torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
COMPUTE_LOCK = threading.Lock()


@contextmanager
def computing() -> Iterator[None]:
    """Take a turn at the model: one computation at a time gets all the cores."""
    with COMPUTE_LOCK:
        yield


@st.cache_resource(show_spinner=False, max_entries=8, ttl=1800)
def get_trace(model_id: str, token_ids: tuple[int, ...]) -> Trace:
    """The trace of one prompt, cached per (model id, token ids); tensors are never hashed.

    A cache_resource rather than cache_data: cache_data would pickle and unpickle the whole trace
    on every rerun (tens of MB for a short prompt, over a GB at 1024 tokens), while a Trace is
    read-only, so every session asking for the same prompt can share one.
    """
    model = get_model(model_id)
    with computing():
        return trace(model, token_ids)


def prompt_token_ids() -> list[int]:
    """The prompt's token ids; on an empty prompt, a friendly hint and the page stops there."""
    ids = get_tokenizer().encode(current_prompt())
    if not ids:
        st.info("Type a prompt in the sidebar to see what the model does with it, e.g. *Every effort moves you*.")
        st.stop()
    return ids


def trace_bytes(cfg: GPTConfig, num_tokens: int) -> int:
    """Roughly what a Trace of ``num_tokens`` holds: attention maps grow with T², the rest with T."""
    attention = 2 * cfg.n_layers * cfg.n_heads * num_tokens**2  # scores and weights
    streams = cfg.n_layers * num_tokens * (10 * cfg.emb_dim + 4 * cfg.emb_dim)  # residuals, norms, outputs, GELU
    return 4 * (attention + streams + num_tokens * cfg.vocab_size)  # float32, plus the logits


def current_trace() -> Trace:
    """The cached trace of the current prompt, with a notice when the prompt had to be cropped."""
    ids = prompt_token_ids()
    model = current_model()
    context = model.cfg.context_length
    kept = ids[-context:]  # cropped here, as trace() would, so every page shares one cache entry
    if len(kept) < len(ids):
        st.warning(
            f"The prompt has {len(ids)} tokens but this model reads at most {context}; "
            f"the first {len(ids) - len(kept)} tokens were dropped (as the book's code does)."
        )
    refused = memory_refusal(f"Tracing {len(kept)} tokens", trace_bytes(model.cfg, len(kept)))
    if refused:
        st.error(refused.replace("Pick a smaller model", "Try a shorter prompt or a smaller model"))
        st.stop()
    with st.spinner("Running the prompt through the model…"):
        return get_trace(current_model_id(), tuple(kept))
