"""The prompt's trace through the session's model, computed once per (model, prompt) and shared,
and its residual stream read through the logit lens."""

from __future__ import annotations

import numpy as np
import streamlit as st

from gptcore import Trace, get_tokenizer
from gptcore.footprint import logit_lens_bytes, trace_bytes
from gptcore.lens import residual_place

from .caches import TRACES
from .models import current_model, current_model_id, get_model
from .scheduler import lens_job, trace_job
from .state import current_prompt
from .turns import all_in_batches, in_batch, reserving


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


def logit_lens_in_batches(model_id: str, trace: Trace, positions: slice, k: int) -> tuple[np.ndarray, np.ndarray]:
    """gptcore.lens.logit_lens of ``positions``, read by the scheduler: (ids, probs), (L + 1, P, k) each.

    Each stream place is its own job, all submitted at once, so the output head reads them in a few
    products, together with the other students' readings. The memory of one product is reserved.
    """
    model = get_model(model_id)
    places = [residual_place(trace, place)[positions] for place in range(trace.n_layers + 1)]  # (P, d) each
    what = "Reading the stream through the head"
    with reserving(logit_lens_bytes(model.cfg, len(places[0])), what):
        readings = all_in_batches([lens_job(model, model_id, residual, k) for residual in places])
    return np.stack([ids for ids, _ in readings]), np.stack([probs for _, probs in readings])


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
