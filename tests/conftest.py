"""Shared fixtures: models are built once per test session because the 124M one takes seconds."""

import pytest
import torch

from gptcore import GPT_CONFIG_124M, PRESETS, GPTModel, build_model, get_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return get_tokenizer()


@pytest.fixture(scope="session")
def tiny_model() -> GPTModel:
    """Two layers, four heads, 32 dims, the real 50,257-token vocabulary: fast and realistic."""
    return build_model(PRESETS["tiny"], seed=7)


@pytest.fixture(scope="session")
def book_model() -> GPTModel:
    """The book's untrained 124M model: GPT_CONFIG_124M built right after torch.manual_seed(123)."""
    return build_model(GPT_CONFIG_124M, seed=123)


@pytest.fixture
def prompt_ids(tokenizer) -> torch.Tensor:
    return torch.tensor(tokenizer.encode("Every effort moves you toward the light of"))
