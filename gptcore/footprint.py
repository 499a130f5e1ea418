"""How much memory each piece of work on a GPTModel takes at its peak, from its config and token count.

One place for every estimate the app's memory budget reserves before the work starts. Each is
float32 bytes counted from the tensors the work creates, calibrated against peaks measured on
GPT-2 124M with the app's allocator settings (ui/memory.py: large blocks go back to the system when
freed), and tests/test_footprint.py checks them within 25% at three prompt lengths.

Shorthand in the comments: T tokens, L layers, H heads, d = emb_dim, V = vocab_size.
"""

from __future__ import annotations

from .config import GPTConfig
from .decoding import cache_capacity
from .edits import SCAN_BATCH_TOKENS
from .lens import LENS_CHUNK
from .stats import memory_to_load, size_report

FLOAT32 = 4
GENERATION_WORKSPACE = 8 * 2**20  # what generating allocates however short the prompt (buffers, allocator slack)


def trace_bytes(cfg: GPTConfig, num_tokens: int) -> int:
    """A Trace of ``num_tokens`` tokens, and the forward pass's peak while making it.

    Per layer it keeps thirteen (T, d)-wide arrays: seven d-wide streams, the queries and keys, and
    the 4d-wide GELU output; besides, four (T, d) embeddings and norms, and the last position's
    logits (V). The attention maps are not kept, but one layer's scores and pattern (H, T, T) exist
    during the pass.
    """
    cfg = GPTConfig.coerce(cfg)
    n_tokens = min(num_tokens, cfg.context_length)
    streams = cfg.n_layers * n_tokens * 13 * cfg.emb_dim + 4 * n_tokens * cfg.emb_dim
    logits = cfg.vocab_size
    one_layer_maps = 2 * cfg.n_heads * n_tokens**2
    return FLOAT32 * (streams + logits + one_layer_maps)


def logit_lens_bytes(cfg: GPTConfig, num_tokens: int) -> int:
    """One output-head product of the logit lens, over at most LENS_CHUNK rows.

    The (chunk, V) logits are the only large block, and their normaliser is worked out in their own
    memory; measured peaks are one such block or two (the allocator may not have handed the previous
    chunk's block back yet), so two are reserved.
    """
    cfg = GPTConfig.coerce(cfg)
    chunk = min(num_tokens, cfg.context_length, LENS_CHUNK)
    return FLOAT32 * 2 * chunk * cfg.vocab_size


def gradient_bytes(cfg: GPTConfig, num_tokens: int) -> int:
    """One backward pass over the prompt (the Residual page's gradient norms).

    A gradient for every parameter; autograd keeps about two (H, T, T) attention maps per layer
    (scores, pattern) and about twelve d-wide activations per layer and token; the loss keeps the
    logits and their softmax, two (T, V) blocks.
    """
    cfg = GPTConfig.coerce(cfg)
    n_tokens = min(num_tokens, cfg.context_length)
    parameters = size_report(cfg).parameters
    attention = 2 * cfg.n_layers * cfg.n_heads * n_tokens**2
    activations = n_tokens * (12 * cfg.n_layers * cfg.emb_dim + 2 * cfg.vocab_size)
    return int(FLOAT32 * (parameters + attention + activations))


def generation_bytes(cfg: GPTConfig, num_tokens: int, batch_size: int = 1) -> int:
    """Generating up to ``num_tokens`` in all (prompt + new) for ``batch_size`` sequences.

    The KV cache holds keys and values for every position of every layer: 2 L T d. Reading the
    prompt in one pass makes one layer's attention maps at a time, about three (H, T, T) blocks, and
    some fourteen d-wide blocks per token (queries, keys, values, the feed-forward's 4d). Past the
    context, each new token reads the whole window again without a cache, which costs no more.
    """
    cfg = GPTConfig.coerce(cfg)
    n_tokens = min(num_tokens, cfg.context_length)
    cache = 2 * cfg.n_layers * n_tokens * cfg.emb_dim
    prompt_pass = 3 * cfg.n_heads * n_tokens**2 + 14 * n_tokens * cfg.emb_dim
    return FLOAT32 * batch_size * (cache + prompt_pass) + GENERATION_WORKSPACE


def batched_generation_bytes(cfg: GPTConfig, num_tokens: int) -> int:
    """Generating up to ``num_tokens`` in all in a DecodeBatch of its size class: as ``generation_bytes``
    for the cache row it gets there (batching.cache_capacity), which its prompt's padded pass also fits."""
    cfg = GPTConfig.coerce(cfg)
    return generation_bytes(cfg, cache_capacity(num_tokens, cfg.context_length))


def _batch_peak(cfg: GPTConfig, rows: int, n_tokens: int, logits_per_row: int) -> int:
    """The peak of a forward pass over ``rows`` copies of an n-token prompt, with ``logits_per_row``
    V-wide blocks a row from the output head.

    Its phases are a block's feed-forward (some twenty d-wide blocks a token: the 4d hidden layer
    and GELU's temporaries), a block's attention (two (H, T, T) blocks a row, eight d-wide blocks a
    token) and the output head. In a fresh process each phase hands its memory back before the
    next, but once the process has run a backward pass (any server whose students opened the
    Residual page) the earlier phases' memory is still resident when the logits are made: measured
    on GPT-2 124M at 1000 tokens, 206 MB before a backward pass, 345 MB after. The estimate is for
    the server in use, so it adds the phases.
    """
    tokens = rows * n_tokens
    feedforward = 20 * tokens * cfg.emb_dim
    attention = 2 * rows * cfg.n_heads * n_tokens**2 + 8 * tokens * cfg.emb_dim
    output = rows * logits_per_row * cfg.vocab_size
    return FLOAT32 * (feedforward + attention + output) + GENERATION_WORKSPACE


def edited_pass_bytes(cfg: GPTConfig, num_tokens: int, every_position: bool = True) -> int:
    """One forward pass of a prompt with edits (gptcore/edits.py): with logits for every position
    (run_with_edits; past a few hundred tokens the (T, V) logits are the peak), or for the next token
    only (``every_position=False``, next_token_logits)."""
    cfg = GPTConfig.coerce(cfg)
    n_tokens = min(num_tokens, cfg.context_length)
    return _batch_peak(cfg, 1, n_tokens, logits_per_row=n_tokens if every_position else 1)


def scan_bytes(cfg: GPTConfig, num_tokens: int, keeps_streams: bool = False) -> int:
    """One batch of a scan (edits.head_importance, edits.patching_scan): as many copies of the prompt
    as SCAN_BATCH_TOKENS holds, each with the last position's logits and their softmax. A patching
    scan (``keeps_streams``) also keeps the clean prompt's stream entering every block: L x T x d."""
    cfg = GPTConfig.coerce(cfg)
    n_tokens = min(num_tokens, cfg.context_length)
    rows = max(1, SCAN_BATCH_TOKENS // n_tokens)
    streams = FLOAT32 * cfg.n_layers * n_tokens * cfg.emb_dim if keeps_streams else 0
    return _batch_peak(cfg, rows, n_tokens, logits_per_row=2) + streams


def unit_embedding_bytes(cfg: GPTConfig) -> int:
    """The token embedding matrix with unit rows, which the Tokens page keeps to find neighbours: V x d."""
    cfg = GPTConfig.coerce(cfg)
    return FLOAT32 * cfg.vocab_size * cfg.emb_dim


def model_load_bytes(cfg: GPTConfig) -> int:
    """Loading a model: the model itself and the largest tensor being read (stats.memory_to_load)."""
    return memory_to_load(cfg)


def model_bytes(cfg: GPTConfig) -> int:
    """A loaded float32 model's parameters (the output head counted apart from the token embedding)."""
    return FLOAT32 * size_report(GPTConfig.coerce(cfg)).parameters


def training_bytes(cfg: GPTConfig, batch_size: int, window: int) -> int:
    """A training run: the trained copy, its gradients, AdamW's two averages, and a batch's activations."""
    cfg = GPTConfig.coerce(cfg)
    parameters = size_report(cfg).parameters
    per_token = 3 * cfg.vocab_size + cfg.n_layers * (16 * cfg.emb_dim + 3 * cfg.n_heads * window)
    return FLOAT32 * (4 * parameters + batch_size * window * per_token)
