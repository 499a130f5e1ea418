"""Gradients for teaching: the prompt's loss, per-block gradient norms, shortcuts on and off.

Gradients are computed with ``torch.autograd.grad``, which returns them instead of storing them in
``param.grad``; the shortcut switch is an argument of the forward pass, not a flag on the model. So
a model shared by many sessions is never changed by looking at its gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
from torch import nn

from .device import model_device
from .hooks import Recorder, recording
from .layers import GELU
from .model import GPTModel
from .seeding import seeded
from .trace import as_token_ids


def lm_loss(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy: position t's logits (T, vocab) are scored on token t + 1."""
    return nn.functional.cross_entropy(logits[:-1], token_ids[1:])


@dataclass(frozen=True)
class GradientReport:
    """How strongly the prompt's loss pulls on each block. L = layers, T = tokens."""

    use_shortcut: bool
    loss: float
    param_grad_norm: np.ndarray  # (L,) L2 norm of the gradient of all of a block's parameters
    resid_grad_norm: np.ndarray  # (L, T) L2 norm of the gradient of the stream entering the block, per token
    embedding_grad_norm: float  # L2 norm of the gradient of tok_emb and pos_emb together
    resid_std: np.ndarray  # (L,) standard deviation of each token's stream entering the block, averaged over tokens

    def stream_gradient(self) -> np.ndarray:
        """(L,) L2 norm of the gradient of the whole stream (every token) entering each block."""
        return np.sqrt((self.resid_grad_norm.astype(np.float64) ** 2).sum(axis=1))  # (L, T) -> (L,)

    def stream_gradient_relative(self) -> np.ndarray:
        """(L,) the stream's gradient at each block as a multiple of the one at the last block.

        With shortcuts, the gradient reaching the last block's input is passed back unchanged to
        every earlier block (each block adds its own part), so these stay near 1.
        """
        gradient = self.stream_gradient()
        return gradient / gradient[-1] if gradient[-1] > 0 else np.full_like(gradient, np.nan)


def gradient_norms(
    model: GPTModel, token_ids: Sequence[int] | np.ndarray | torch.Tensor, use_shortcut: bool = True
) -> GradientReport:
    """Loss of predicting each next token of the prompt, and the gradient norms it produces."""
    if model.training and model.cfg.drop_rate > 0:
        raise ValueError("the model is in training mode, so dropout would randomise gradients; call model.eval()")
    ids = as_token_ids(token_ids)[-model.cfg.context_length :].to(model_device(model))
    if len(ids) < 2:
        raise ValueError("the loss needs at least two tokens: one to read and one to predict")

    n_layers = model.cfg.n_layers
    resid_names = [f"trf_blocks.{layer}.hook_resid_pre" for layer in range(n_layers)]
    keep = set(resid_names)
    recorder = Recorder(keep=keep.__contains__, detach=False)  # keep the graph to differentiate
    with torch.enable_grad(), recording(recorder):
        logits = model(ids.unsqueeze(0), use_shortcut=use_shortcut)[0]  # (T, vocab)
        loss = lm_loss(logits, ids)

    block_params = [[p for p in block.parameters() if p.requires_grad] for block in model.trf_blocks]
    embedding_params = [p for p in (model.tok_emb.weight, model.pos_emb.weight) if p.requires_grad]
    flat_params = [p for params in block_params for p in params] + embedding_params
    resid = [recorder.tensors[name] for name in resid_names]
    grads = torch.autograd.grad(loss, resid + flat_params, allow_unused=True)

    resid_grads, param_grads = grads[:n_layers], list(grads[n_layers:])

    def norm(tensors: Sequence[torch.Tensor | None]) -> float:
        squares = [g.pow(2).sum() for g in tensors if g is not None]
        return float(torch.stack(squares).sum().sqrt()) if squares else 0.0

    param_norms = []
    for params in block_params:
        param_norms.append(norm(param_grads[: len(params)]))
        del param_grads[: len(params)]
    return GradientReport(
        use_shortcut=use_shortcut,
        loss=float(loss.detach()),
        param_grad_norm=np.array(param_norms),
        resid_grad_norm=torch.stack([g[0].norm(dim=-1) for g in resid_grads]).cpu().numpy(),
        embedding_grad_norm=norm(param_grads),
        resid_std=np.array([float(stream[0].detach().std(dim=-1).mean()) for stream in resid]),
    )


class ExampleDeepNeuralNetwork(nn.Module):
    """The book's five-layer toy network for showing why shortcut connections matter (section 4.4)."""

    def __init__(self, layer_sizes: Sequence[int], use_shortcut: bool) -> None:
        super().__init__()
        self.use_shortcut = use_shortcut
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Linear(n_in, n_out), GELU()) for n_in, n_out in pairwise(layer_sizes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            layer_output = layer(x)
            # A shortcut adds the layer's input to its output, where the shapes allow it.
            x = x + layer_output if self.use_shortcut and x.shape == layer_output.shape else layer_output
        return x


def shortcut_experiment(
    use_shortcut: bool, layer_sizes: Sequence[int] = (3, 3, 3, 3, 3, 1), seed: int = 123
) -> list[float]:
    """The book's experiment: mean absolute gradient of each layer's weights for one input.

    Input [[1., 0., -1.]], target 0, MSE loss. Without shortcuts the gradients shrink towards the
    first layer (vanishing gradients); with them they stay large.
    """
    with seeded(seed):
        model = ExampleDeepNeuralNetwork(layer_sizes, use_shortcut)
    sample_input = torch.tensor([[1.0, 0.0, -1.0]])
    with torch.enable_grad():
        loss = nn.MSELoss()(model(sample_input), torch.tensor([[0.0]]))
        weights = [layer[0].weight for layer in model.layers]
        grads = torch.autograd.grad(loss, weights)
    return [float(g.abs().mean()) for g in grads]


def _l2_norm(tensors: list[torch.Tensor | None]) -> float:
    squares = [g.pow(2).sum() for g in tensors if g is not None]
    return float(torch.stack(squares).sum().sqrt()) if squares else 0.0


def parameter_gradient_norms(model: GPTModel) -> tuple[tuple[float, ...], float, float]:
    """(per block, embeddings, final norm + head) L2 norms of the gradients now in param.grad."""
    blocks = tuple(_l2_norm([p.grad for p in block.parameters()]) for block in model.trf_blocks)
    embeddings = _l2_norm([model.tok_emb.weight.grad, model.pos_emb.weight.grad])
    head = _l2_norm([p.grad for p in (*model.final_norm.parameters(), *model.out_head.parameters())])
    return blocks, embeddings, head
