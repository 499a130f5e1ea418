"""Measures for tokens and embeddings: how a prompt is split, and the vectors each token is looked up as."""

from __future__ import annotations

from .core import Computed, Reading, measure


@measure
def token_count(reading: Reading) -> Computed:
    """How many tokens the step's prompt becomes."""
    trace = reading.trace()
    labels = " | ".join(reading.label(trace, position) for position in range(trace.num_tokens))
    return Computed(trace.num_tokens, f"“{reading.prompt}” is {trace.num_tokens} tokens: {labels}.")


@measure
def embedding_size(reading: Reading) -> Computed:
    """How many numbers one token's embedding vector has: emb_dim."""
    d = reading.cfg.emb_dim
    return Computed(
        d,
        f"This model's emb_dim is {d:,}: each token is looked up as a row of {d:,} numbers, and its position's "
        f"vector, {d:,} numbers too, is added to it number by number.",
    )


@measure
def embedding_parameters(reading: Reading) -> Computed:
    """The token embedding table's size: one row of emb_dim numbers per vocabulary entry."""
    vocab, d = reading.cfg.vocab_size, reading.cfg.emb_dim
    return Computed(
        vocab * d,
        f"tok_emb.weight has one row per token of the vocabulary and one column per dimension: "
        f"{vocab:,} x {d:,} = {vocab * d:,} numbers.",
    )
