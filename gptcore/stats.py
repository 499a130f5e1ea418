"""Model size figures: parameter counts (plain and with a tied output head) and memory."""

from __future__ import annotations

from dataclasses import dataclass

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
    storage, so even gpt2-xl (6 GB of weights) is counted in milliseconds.
    """
    with torch.device("meta"):
        model = GPTModel(cfg)
    total = count_parameters(model)
    return SizeReport(total, count_parameters_tied(model), size_mb(total))


def parameter_breakdown(model: GPTModel) -> list[tuple[str, int]]:
    """(component, parameters) rows: embeddings, each block's parts summed over blocks, head."""
    blocks = list(model.trf_blocks)
    return [
        ("token embedding (tok_emb)", model.tok_emb.weight.numel()),
        ("position embedding (pos_emb)", model.pos_emb.weight.numel()),
        ("attention (all blocks)", sum(count_parameters(b.att) for b in blocks)),
        ("feed-forward (all blocks)", sum(count_parameters(b.ff) for b in blocks)),
        ("layer norms (all blocks)", sum(count_parameters(b.norm1) + count_parameters(b.norm2) for b in blocks)),
        ("final norm", count_parameters(model.final_norm)),
        ("output head (out_head)", model.out_head.weight.numel()),
    ]
