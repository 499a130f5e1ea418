import dataclasses

import pytest

from gptcore import GPT_CONFIG_124M, PRESETS, GPTConfig, GPTModel


def test_book_dict_is_the_books_124m_config():
    assert GPT_CONFIG_124M == {
        "vocab_size": 50257,
        "context_length": 1024,
        "emb_dim": 768,
        "n_heads": 12,
        "n_layers": 12,
        "drop_rate": 0.1,
        "qkv_bias": False,
    }
    assert GPTConfig.coerce(GPT_CONFIG_124M).to_dict() == GPT_CONFIG_124M


@pytest.mark.parametrize(
    ("name", "emb_dim", "n_layers", "n_heads"),
    [
        ("gpt2-small", 768, 12, 12),
        ("gpt2-medium", 1024, 24, 16),
        ("gpt2-large", 1280, 36, 20),
        ("gpt2-xl", 1600, 48, 25),
    ],
)
def test_gpt2_presets(name, emb_dim, n_layers, n_heads):
    cfg = PRESETS[name]
    assert (cfg.emb_dim, cfg.n_layers, cfg.n_heads) == (emb_dim, n_layers, n_heads)
    assert cfg.context_length == 1024
    assert cfg.vocab_size == 50257
    assert cfg.qkv_bias is True


def test_config_is_frozen_and_readable_like_the_dict():
    cfg = PRESETS["tiny"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.emb_dim = 64
    assert cfg["emb_dim"] == cfg.emb_dim
    assert cfg.head_dim == cfg.emb_dim // cfg.n_heads
    with pytest.raises(KeyError):
        cfg["not_a_field"]


def test_emb_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match=r"emb_dim \(770\) must be divisible by n_heads \(12\)"):
        GPTConfig(emb_dim=770, n_heads=12)
    with pytest.raises(ValueError, match="divisible"):
        GPTModel({**GPT_CONFIG_124M, "emb_dim": 100})


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_layers", 0), ("vocab_size", -5), ("context_length", 2.5), ("n_heads", True), ("drop_rate", 1.0)],
)
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        GPTConfig(**{field: value})


def test_dict_with_wrong_keys_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown config keys \\['emb_size'\\]"):
        GPTModel({**GPT_CONFIG_124M, "emb_size": 768})
    partial = dict(GPT_CONFIG_124M)
    del partial["qkv_bias"]
    with pytest.raises(ValueError, match="missing keys \\['qkv_bias'\\]"):
        GPTConfig.coerce(partial)
