"""Measures for attention: where one token looks, what the causal mask hides, and what heads specialise in."""

from __future__ import annotations

import numpy as np

from gptcore.heads import head_summary

from ...figures import percent
from .core import Computed, Reading, checked_head, checked_layer, measure


@measure
def strongest_key(reading: Reading, layer: int, head: int) -> Computed:
    """The position the prompt's last token attends to most in one head: the argmax of its row."""
    checked_layer(reading, layer)
    checked_head(reading, head)
    trace = reading.trace()
    row = trace.attention_head(layer, head)[-1]  # (T,)
    position = int(np.argmax(row))
    return Computed(
        position,
        f"In layer {layer}, head {head}, the last token gives {percent(float(row[position]))} of its attention "
        f"to {reading.label(trace, position)} (position {position}), more than to any other token.",
    )


@measure
def attention_weight(reading: Reading, layer: int, head: int, query: int, key: int) -> Computed:
    """The weight (0 to 1, as the heatmap shows it) that the token at ``query`` gives the token at ``key``."""
    checked_layer(reading, layer)
    checked_head(reading, head)
    trace = reading.trace()
    for name, position in (("query", query), ("key", key)):
        if not 0 <= position < trace.num_tokens:
            raise ValueError(f"{name} position {position} is outside the prompt's {trace.num_tokens} tokens")
    weight = float(trace.attention_head(layer, head)[query, key])
    who = f"{reading.label(trace, query)} (position {query})"
    whom = "itself" if key == query else f"{reading.label(trace, key)} (position {key})"
    why = f"In layer {layer}, head {head}, {who} gives {whom} weight {weight:.3f}: {percent(weight)} of its attention."
    if key > query:
        why += " That token comes later: the causal mask sets its score to −∞, so its weight is exactly 0."
    elif query == 0:
        why += " The first token may see only itself, so all of its attention goes there."
    return Computed(weight, why)


@measure
def head_size(reading: Reading) -> Computed:
    """How many numbers each head's query, key and value vectors have: emb_dim / n_heads."""
    d, heads = reading.cfg.emb_dim, reading.cfg.n_heads
    return Computed(
        d // heads,
        f"Multi-head attention splits the {d:,} dimensions among {heads} heads: {d:,} / {heads} = {d // heads} "
        "numbers per head, and the heads' outputs are put side by side again.",
    )


@measure
def previous_token_head(reading: Reading, layer: int) -> Computed:
    """The head of ``layer`` that gives the token just before each query the most weight, on average."""
    checked_layer(reading, layer)
    trace = reading.trace()
    if trace.num_tokens < 2:
        raise ValueError("the prompt needs at least two tokens for a token to have one before it")
    shares = head_summary(trace, layer)["prev_token"].to_numpy()  # (H,)
    head = int(np.argmax(shares))
    why = (
        f"In layer {layer}, head {head} gives the previous token {percent(float(shares[head]))} of each token's "
        "attention on average (the prev_token column)"
    )
    if len(shares) > 1:
        why += f"; the next highest head gives {percent(float(np.sort(shares)[-2]))}"
    return Computed(head, why + ".")
