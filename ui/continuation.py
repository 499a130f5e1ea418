"""The greedy continuation of a prompt, as Compare and Experiments show it.

Written in the class's decode batch (ui/scheduler.py), so a class comparing the same model and
prompt costs one generation, and cached per (model, prompt) for every page that shows it.
"""

from __future__ import annotations

from gptcore import GPTModel
from gptcore.footprint import batched_generation_bytes
from gptcore.generation import split_generated_text

from .caches import cached
from .jobs import generation_job
from .turns import generated_steps, reserving

CONTINUATION_TOKENS = 20


@cached
def greedy_continuation(model_id: str, token_ids: tuple[int, ...], _model: GPTModel) -> str:
    """The text of the model's CONTINUATION_TOKENS most likely next tokens, one after another."""
    job = generation_job(
        _model, model_id, token_ids, max_new_tokens=CONTINUATION_TOKENS, context_size=_model.cfg.context_length
    )
    needed = batched_generation_bytes(_model.cfg, len(token_ids) + CONTINUATION_TOKENS)
    with reserving(needed, f"Writing {CONTINUATION_TOKENS} tokens after {len(token_ids)}"):
        written = [step.token_id for steps in generated_steps(job) for step in steps]
    return split_generated_text(list(token_ids), written)[1]
