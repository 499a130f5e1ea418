"""The shared Streamlit helpers that are plain functions: model choices and labels."""

import torch
from conftest import fake_hub_cache
from transformers import GPT2Config, GPT2LMHeadModel

import ui


def test_a_pretrained_gpt2_in_the_local_cache_joins_the_model_picker(tmp_path, monkeypatch):
    assert all(choice.model_id != "pretrained-gpt2" for choice in ui._pretrained_choices())
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, n_positions=16)).eval()
    fake_hub_cache(tmp_path, hf, "openai-community/gpt2")
    original = ui.cached_pretrained_folder
    monkeypatch.setattr(ui, "cached_pretrained_folder", lambda name: original(name, cache_dir=tmp_path))

    [choice] = ui._pretrained_choices()
    assert choice.model_id == "pretrained-gpt2"
    assert choice.trained
    assert "pretrained by OpenAI" in choice.label
    model = choice.build()
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf(ids).logits, atol=1e-4, rtol=0)


def test_labels_are_unique_and_show_spaces():
    assert ui.labels([314, 314]) == ["0:␣I", "1:␣I"]


def test_default_model_is_the_books_untrained_124m():
    choice = ui.MODEL_CHOICES[ui.DEFAULT_MODEL_ID]
    assert not choice.trained
    assert "seed 123" in choice.label
