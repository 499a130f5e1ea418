"""Sizes and counts: parameters (plain and with a tied output head), memory, bytes for people to read, histograms."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .config import GPTConfig
from .model import GPTModel

BYTES_PER_FLOAT32 = 4


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_parameters_tied(model: GPTModel) -> int:
    """Parameters if out_head shared tok_emb's matrix, as in OpenAI's GPT-2 (the book's 124M)."""
    return count_parameters(model) - model.out_head.weight.numel()


def size_mb(num_parameters: int, bytes_per_parameter: int = BYTES_PER_FLOAT32) -> float:
    """Memory for the weights in MB (2**20 bytes), as the book computes it."""
    return num_parameters * bytes_per_parameter / (1024 * 1024)


@dataclass(frozen=True)
class SizeReport:
    parameters: int
    parameters_tied: int
    size_mb: float  # float32, counting every parameter (untied)


def size_report(cfg: GPTConfig | dict) -> SizeReport:
    """The size of a model with this config, counted on a real GPTModel built without memory.

    The model is built on PyTorch's "meta" device: every parameter has its true shape but no
    storage, so even gpt2-xl (6 GB of weights) is counted in milliseconds. Cached per config.
    """
    return _size_report(GPTConfig.coerce(cfg))


@functools.cache
def _size_report(cfg: GPTConfig) -> SizeReport:
    with torch.device("meta"):
        model = GPTModel(cfg)
    total = count_parameters(model)
    return SizeReport(total, count_parameters_tied(model), size_mb(total))


def memory_to_load(cfg: GPTConfig | dict) -> int:
    """Bytes to hold a float32 GPTModel of this config while it is filled one tensor at a time.

    The model itself (its out_head a separate copy of the token embedding) plus the largest
    tensor being read: the token embedding in every GPT-2; the others are listed so the rule
    holds for any config.
    """
    cfg = GPTConfig.coerce(cfg)
    largest = max(cfg.vocab_size, cfg.context_length, 4 * cfg.emb_dim) * cfg.emb_dim
    return (size_report(cfg).parameters + largest) * BYTES_PER_FLOAT32


def parameter_breakdown(model: GPTModel) -> list[tuple[str, int]]:
    """(component, parameters): the rows of parameter_rows, each part of the blocks added up."""
    summary: dict[str, int] = {}
    for row in parameter_rows(model):
        name = f"{row.part} (all blocks)" if row.group == "transformer blocks" else row.component
        summary[name] = summary.get(name, 0) + row.parameters
    return list(summary.items())


@dataclass(frozen=True)
class ParameterRow:
    """One weight-holding part of the model, with its parameters summed over every block."""

    group: str  # "embeddings", "transformer blocks", "final norm" or "output head"
    part: str  # within the blocks: "attention", "feed-forward" or "layer norms"; else the group
    component: str  # a readable name with the book's attribute, e.g. "query projection (W_query)"
    module: str  # the module's path, block index as *: "trf_blocks.*.att.W_query"
    shapes: str  # its tensors' shapes in one copy, e.g. "weight (768, 768), bias (768,)"
    per_copy: int  # parameters in one copy (one block for block parts)
    copies: int  # how many copies: n_layers for the parts of a block, 1 otherwise
    parameters: int  # per_copy * copies


# module path (block index as *) -> (group, part, readable name)
_PARAMETER_NAMES: dict[str, tuple[str, str, str]] = {
    "tok_emb": ("embeddings", "embeddings", "token embedding (tok_emb)"),
    "pos_emb": ("embeddings", "embeddings", "position embedding (pos_emb)"),
    "trf_blocks.*.norm1": ("transformer blocks", "layer norms", "LayerNorm 1 (norm1)"),
    "trf_blocks.*.att.W_query": ("transformer blocks", "attention", "query projection (W_query)"),
    "trf_blocks.*.att.W_key": ("transformer blocks", "attention", "key projection (W_key)"),
    "trf_blocks.*.att.W_value": ("transformer blocks", "attention", "value projection (W_value)"),
    "trf_blocks.*.att.out_proj": ("transformer blocks", "attention", "output projection (out_proj)"),
    "trf_blocks.*.norm2": ("transformer blocks", "layer norms", "LayerNorm 2 (norm2)"),
    "trf_blocks.*.ff.layers.0": ("transformer blocks", "feed-forward", "expand to 4 x emb_dim (ff.layers[0])"),
    "trf_blocks.*.ff.layers.2": ("transformer blocks", "feed-forward", "project back to emb_dim (ff.layers[2])"),
    "final_norm": ("final norm", "final norm", "final LayerNorm (final_norm)"),
    "out_head": ("output head", "output head", "output head (out_head)"),
}
_BLOCK_INDEX = re.compile(r"^trf_blocks\.(\d+)(?=\.)")


def parameter_rows(model: GPTModel) -> list[ParameterRow]:
    """Every module that holds weights, in the order the data flows, summed over the blocks.

    Attention is split into its query, key, value and output projections and the feed-forward
    into its two Linear layers. Biases are included where the config has them (qkv_bias), so
    the rows always add up to count_parameters(model). Works on a "meta" model too.
    """
    per_module: dict[str, dict[str, tuple[int, ...]]] = {}  # module -> tensor name -> shape
    totals: dict[str, int] = {}
    blocks: dict[str, set[int]] = {}
    for name, parameter in model.named_parameters():
        module, _, tensor = name.rpartition(".")
        match = _BLOCK_INDEX.match(module)
        if match:  # trf_blocks.3.att.W_query -> trf_blocks.*.att.W_query, remembering block 3
            module = "trf_blocks.*" + module[match.end() :]
            blocks.setdefault(module, set()).add(int(match.group(1)))
        per_module.setdefault(module, {})[tensor] = tuple(parameter.shape)
        totals[module] = totals.get(module, 0) + parameter.numel()

    order = {module: i for i, module in enumerate(_PARAMETER_NAMES)}
    rows = []
    for module in sorted(per_module, key=lambda m: order.get(m, len(order))):
        group, part, component = _PARAMETER_NAMES.get(module, ("other", "other", module))
        copies = len(blocks.get(module, {0}))
        shapes = ", ".join(f"{tensor} {shape}" for tensor, shape in per_module[module].items())
        total = totals[module]
        rows.append(ParameterRow(group, part, component, module, shapes, total // copies, copies, total))
    return rows


def format_bytes(n: int) -> str:
    """Decimal units, as the Hub shows file sizes: 548 MB, 1.42 GB."""
    if n >= 10**9:
        return f"{n / 10**9:.2f} GB"
    if n >= 10**6:
        return f"{n / 10**6:.0f} MB"
    if n >= 10**3:
        return f"{n / 10**3:.0f} kB"
    return f"{n} bytes"


def histogram(values: np.ndarray, bins: int | np.ndarray = 60) -> pd.DataFrame:
    """Counts of ``values`` in bins: columns bin_left, bin_right, bin_center, count."""
    counts, edges = np.histogram(np.asarray(values, dtype=np.float64).ravel(), bins=bins)
    return pd.DataFrame(
        {"bin_left": edges[:-1], "bin_right": edges[1:], "bin_center": (edges[:-1] + edges[1:]) / 2, "count": counts}
    )
