import math

import pytest
import torch
from torch import nn

from gptcore import GELU, PRESETS, FeedForward, LayerNorm, MultiHeadAttention
from gptcore.hooks import Recorder, name_hook_points, recording
from gptcore.seeding import seeded


def test_book_layernorm_demo_reaches_mean_zero_variance_one():
    # The book's demo (section 4.2): a Linear + ReLU layer on two random examples, seed 123.
    with seeded(123):
        batch_example = torch.randn(2, 5)
        layer = nn.Sequential(nn.Linear(5, 6), nn.ReLU())
    out = layer(batch_example)
    expected = torch.tensor(
        [[0.2260, 0.3470, 0.0000, 0.2216, 0.0000, 0.0000], [0.2133, 0.2394, 0.0000, 0.5198, 0.3297, 0.0000]]
    )
    torch.testing.assert_close(out, expected, atol=5e-5, rtol=0)
    torch.testing.assert_close(out.mean(dim=-1), torch.tensor([0.1324, 0.2170]), atol=5e-5, rtol=0)
    torch.testing.assert_close(out.var(dim=-1), torch.tensor([0.0231, 0.0398]), atol=5e-5, rtol=0)

    normed = LayerNorm(emb_dim=5)(batch_example)
    torch.testing.assert_close(normed.mean(dim=-1), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(normed.var(dim=-1, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)


def test_layernorm_matches_torch_and_uses_biased_variance():
    x = torch.randn(3, 7, 16)
    ours = LayerNorm(16)
    with torch.no_grad():
        ours.scale.uniform_(0.5, 1.5)
        ours.shift.uniform_(-1, 1)
    reference = nn.functional.layer_norm(x, (16,), ours.scale, ours.shift, eps=1e-5)
    torch.testing.assert_close(ours(x), reference, atol=1e-5, rtol=1e-5)


def test_gelu_is_the_tanh_approximation():
    x = torch.linspace(-6, 6, 1001)
    torch.testing.assert_close(GELU()(x), nn.functional.gelu(x, approximate="tanh"), atol=1e-6, rtol=1e-6)
    # and differs from ReLU where it matters: slightly negative for small negative inputs
    assert GELU()(torch.tensor(-0.5)) < 0


def test_feedforward_expands_four_times_and_keeps_shape():
    cfg = PRESETS["tiny"]
    ff = FeedForward(cfg)
    assert ff.layers[0].out_features == 4 * cfg.emb_dim
    assert ff(torch.randn(2, 3, cfg.emb_dim)).shape == (2, 3, cfg.emb_dim)


def test_attention_is_causal():
    torch.manual_seed(0)
    att = MultiHeadAttention(d_in=16, d_out=16, context_length=10, dropout=0.0, num_heads=4).eval()
    x = torch.randn(1, 6, 16)
    changed_future = x.clone()
    changed_future[:, 4:] = torch.randn(1, 2, 16)
    # Outputs at positions 0..3 cannot depend on tokens 4 and 5.
    torch.testing.assert_close(att(x)[:, :4], att(changed_future)[:, :4])
    assert not torch.allclose(att(x)[:, 4:], att(changed_future)[:, 4:])


def test_attention_scale_is_square_root_of_head_dim():
    att = MultiHeadAttention(d_in=8, d_out=8, context_length=4, dropout=0.0, num_heads=2, qkv_bias=False)
    with torch.no_grad():
        for linear in (att.W_query, att.W_key):
            linear.weight.copy_(torch.eye(8))
    name_hook_points(att)
    x = torch.randn(1, 3, 8)
    with recording(Recorder()) as recorder:
        att(x)
    scores = recorder.tensors["hook_scores"]
    q = x.view(1, 3, 2, 4).transpose(1, 2)
    expected = q @ q.transpose(2, 3) / math.sqrt(4)
    mask = torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1)
    torch.testing.assert_close(scores[..., ~mask], expected[..., ~mask])
    assert torch.isneginf(scores[..., mask]).all()


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(d_in=10, d_out=10, context_length=4, dropout=0.0, num_heads=3)
