"""Measures for what comes out: next-token probabilities, temperature, the loss, and switching heads off."""

from __future__ import annotations

import numpy as np

from gptcore.edits import HeadAblation, head_importance, next_token_logits
from gptcore.footprint import edited_pass_bytes, scan_bytes

from ...figures import percent
from .core import Computed, Reading, checked_head, checked_layer, measure


def _softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits.astype(np.float64) / temperature
    exp = np.exp(scaled - scaled.max())
    return exp / exp.sum()


@measure
def surer_prompt(reading: Reading, first: str, second: str) -> Computed:
    """Which of two prompts (0 or 1) gives its most likely next token the higher probability."""
    tops = [float(reading.trace_of(prompt).probabilities().max()) for prompt in (first, second)]
    return Computed(
        int(tops[1] > tops[0]),
        f"The model's first choice after “{first}” has probability {percent(tops[0])}; after “{second}”, "
        f"{percent(tops[1])}.",
    )


@measure
def top_probability(reading: Reading, temperature: float = 1.0) -> Computed:
    """The probability, in percent, of the most likely next token after the logits are divided by ``temperature``."""
    if temperature <= 0:
        raise ValueError("a temperature is above 0")
    trace = reading.trace()
    probabilities = _softmax(trace.last_logits, temperature)
    token = int(np.argmax(probabilities))
    return Computed(
        float(probabilities[token]) * 100,
        f"At temperature {temperature:g} the most likely next token after “{reading.prompt}” is "
        f"{reading.label_of_id(token)}, with probability {percent(float(probabilities[token]))}.",
    )


@measure
def surer_temperature(reading: Reading, first: float, second: float) -> Computed:
    """Which of two temperatures (0 or 1) gives the most likely next token the higher probability."""
    if min(first, second) <= 0:
        raise ValueError("a temperature is above 0")
    logits = reading.trace().last_logits
    tops = [float(_softmax(logits, temperature).max()) for temperature in (first, second)]
    return Computed(
        int(tops[1] > tops[0]),
        f"The most likely token has probability {percent(tops[0])} at temperature {first:g} and "
        f"{percent(tops[1])} at temperature {second:g}: dividing the logits by a number below 1 spreads them "
        "apart, above 1 squeezes them together.",
    )


@measure
def uniform_loss(reading: Reading) -> Computed:
    """The cross-entropy of a model that gives every token of the vocabulary the same probability: ln(vocab)."""
    vocab = reading.cfg.vocab_size
    loss = float(np.log(vocab))
    return Computed(
        loss,
        f"Guessing evenly among {vocab:,} tokens gives each right token probability 1/{vocab:,}, a loss of "
        f"ln({vocab:,}) = {loss:.3f}. An untrained model starts near there.",
    )


@measure
def prompt_loss(reading: Reading) -> Computed:
    """The model's cross-entropy loss on the prompt: each position's logits scored on the token after it."""
    trace = reading.trace()
    if trace.num_tokens < 2:
        raise ValueError("the prompt needs at least two tokens: one to read and one to predict")
    ids = trace.token_ids.astype(np.int64)
    log_probabilities = [
        np.log(_softmax(trace.logits[position])[ids[position + 1]]) for position in range(len(ids) - 1)
    ]
    loss = -float(np.mean(log_probabilities))
    uniform = float(np.log(reading.cfg.vocab_size))
    return Computed(
        loss,
        f"Over the prompt's {len(ids) - 1} predictions the average loss is {loss:.3f}; guessing evenly would give "
        f"{uniform:.3f}.",
    )


@measure
def ablation_change(reading: Reading, layer: int, head: int) -> Computed:
    """How many percentage points the most likely next token's probability changes with one head switched off."""
    checked_layer(reading, layer)
    checked_head(reading, head)
    if reading.model is None:
        raise ValueError("this question needs the model itself, to run it with a head switched off")
    trace = reading.trace()
    before = trace.probabilities()
    token = int(np.argmax(before))
    with reading.computing(reserve=edited_pass_bytes(reading.cfg, trace.num_tokens, False), what="An edited pass"):
        after = _softmax(next_token_logits(reading.model, trace.token_ids.tolist(), [HeadAblation(layer, head)]))
    change = float(after[token] - before[token])
    return Computed(
        change * 100,
        f"With layer {layer}, head {head} switched off, {reading.label_of_id(token)} goes from "
        f"{percent(float(before[token]))} to {percent(float(after[token]))}: a change of "
        f"{change * 100:+.4g} percentage points.",
    )


@measure
def most_important_layer(reading: Reading) -> Computed:
    """The layer of the head whose switching off lowers the most likely next token's probability the most."""
    if reading.model is None:
        raise ValueError("this question needs the model itself, to switch each head off in turn")
    ids = reading.trace().token_ids.tolist()  # a list: trace arrays are read-only
    with reading.computing(reserve=scan_bytes(reading.cfg, len(ids)), what="Switching each head off in turn"):
        importance = head_importance(reading.model, ids)
    layer, head = np.unravel_index(int(np.argmin(importance.probability_change)), importance.probability_change.shape)
    change = float(importance.probability_change[layer, head])
    return Computed(
        int(layer),
        f"Switching off layer {int(layer)}, head {int(head)} changes {reading.label_of_id(importance.token_id)}'s "
        f"probability by {percent(change)}: no other head lowers it as much.",
    )
