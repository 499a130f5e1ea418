"""The prompt's trace through the session's model, computed once per (model, prompt) and shared."""

from __future__ import annotations

import streamlit as st

from gptcore import Trace, get_tokenizer
from gptcore.footprint import trace_bytes

from .caches import TRACES
from .jobs import trace_job
from .models import current_model, current_model_id, get_model
from .state import current_prompt
from .turns import in_batch, reserving


def get_trace(model_id: str, token_ids: tuple[int, ...]) -> Trace:
    """The trace of one prompt, from the shared cache or computed now (once, however many ask together).

    Its memory is reserved in the budget before the forward pass and kept with the Trace, so it
    counts for as long as any page or the cache holds it. Every session asking for the same prompt
    shares one read-only Trace.
    """
    return TRACES.get_or_compute((model_id, token_ids), lambda: _run_trace(model_id, token_ids))


def _run_trace(model_id: str, token_ids: tuple[int, ...]) -> Trace:
    """Reserve the trace's memory, then run it in the scheduler's next batch with other students' prompts."""
    model = get_model(model_id)
    needed = trace_bytes(model.cfg, len(token_ids))
    with reserving(needed, f"Reading {len(token_ids)} tokens") as reservation:
        return reservation.keep_with(in_batch(trace_job(model, model_id, token_ids)))


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
    context = model.cfg.context_length
    kept = ids[-context:]  # cropped here, as trace() would, so every page shares one cache entry
    if len(kept) < len(ids):
        st.warning(
            f"The prompt has {len(ids)} tokens but this model reads at most {context}; "
            f"the first {len(ids) - len(kept)} tokens were dropped (as the book's code does)."
        )
    with st.spinner("Running the prompt through the model…"):
        return get_trace(current_model_id(), tuple(kept))
