"""Parity with Hugging Face's GPT-2: the same weights must give the same numbers.

transformers' GPT2LMHeadModel is built with random weights from a GPT2Config (no download), its
state dict is loaded into GPTModel with load_hf_state_dict, and both run the same token ids.
"""

import pytest
import torch
from conftest import fake_hub_cache
from transformers import GPT2Config, GPT2LMHeadModel

from gptcore import PRESETS, GPTConfig, GPTModel, generate, load_hf_state_dict, trace
from gptcore.local import load_local
from gptcore.weights import cached_pretrained_folder

TOLERANCE = 1e-4


def hf_gpt2(cfg: GPTConfig, seed: int) -> GPT2LMHeadModel:
    hf_config = GPT2Config(
        vocab_size=cfg.vocab_size,
        n_positions=cfg.context_length,
        n_embd=cfg.emb_dim,
        n_layer=cfg.n_layers,
        n_head=cfg.n_heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        attn_implementation="eager",  # the attention weights are only returned by the eager path
    )
    torch.manual_seed(seed)
    return GPT2LMHeadModel(hf_config).eval()


def loaded_pair(cfg: GPTConfig, seed: int) -> tuple[GPT2LMHeadModel, GPTModel]:
    hf = hf_gpt2(cfg, seed)
    with torch.device("meta"):
        ours = GPTModel(cfg)  # no memory spent on weights that are about to be replaced
    ours = ours.to_empty(device="cpu").eval()
    return hf, load_hf_state_dict(ours, hf.state_dict())


SMALL = GPTConfig(vocab_size=50257, context_length=48, emb_dim=64, n_heads=4, n_layers=3, drop_rate=0.0, qkv_bias=True)


@pytest.fixture(scope="module")
def small_pair():
    return loaded_pair(SMALL, seed=1)


@pytest.fixture(scope="module")
def pair_124m():
    return loaded_pair(PRESETS["gpt2-small"], seed=2)


def assert_trace_matches(hf: GPT2LMHeadModel, ours: GPTModel, ids: torch.Tensor) -> None:
    with torch.no_grad():
        out = hf(ids.unsqueeze(0), output_attentions=True, output_hidden_states=True)
    t = trace(ours, ids)
    torch.testing.assert_close(torch.tensor(t.logits), out.logits[0], atol=TOLERANCE, rtol=0)
    for layer in range(ours.cfg.n_layers):
        torch.testing.assert_close(torch.tensor(t.attention(layer)), out.attentions[layer][0], atol=TOLERANCE, rtol=0)
        # HF's hidden_states[i] is the stream entering block i ...
        torch.testing.assert_close(
            torch.tensor(t.resid_pre[layer]), out.hidden_states[layer][0], atol=TOLERANCE, rtol=0
        )
    # ... and its last entry is after the final LayerNorm.
    torch.testing.assert_close(torch.tensor(t.final_norm_out), out.hidden_states[-1][0], atol=TOLERANCE, rtol=0)


def test_small_config_matches_transformers(small_pair, tokenizer):
    hf, ours = small_pair
    assert_trace_matches(hf, ours, torch.tensor(tokenizer.encode("The quick brown fox jumps over the lazy dog")))


def test_124m_config_matches_transformers(pair_124m, tokenizer):
    hf, ours = pair_124m
    ids = torch.tensor(tokenizer.encode("Every effort moves you, and every step counts: 1, 2, 3 🦙"))
    assert_trace_matches(hf, ours, ids)


@pytest.mark.parametrize("pair_name", ["small_pair", "pair_124m"])
def test_greedy_generation_gives_identical_ids(pair_name, request, tokenizer):
    hf, ours = request.getfixturevalue(pair_name)
    idx = torch.tensor([tokenizer.encode("Hello, I am")])
    ours_ids = generate(ours, idx, max_new_tokens=20, context_size=ours.cfg.context_length)
    with torch.no_grad():
        hf_ids = hf.generate(
            idx,
            attention_mask=torch.ones_like(idx),
            max_new_tokens=20,
            min_new_tokens=20,
            do_sample=False,
            pad_token_id=50256,
        )
    assert ours_ids.tolist() == hf_ids.tolist()


def test_bare_gpt2model_keys_and_old_buffers_are_accepted(small_pair):
    hf, ours = small_pair
    bare = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    bare["h.0.attn.bias"] = torch.ones(1, 1, 48, 48)  # the causal-mask buffer older versions saved
    fresh = GPTModel(SMALL).eval()
    load_hf_state_dict(fresh, bare)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(fresh(ids), ours(ids))


def test_wrong_shape_names_the_tensor_and_both_shapes(small_pair):
    hf, _ = small_pair
    state = dict(hf.state_dict())
    state["transformer.h.1.mlp.c_fc.weight"] = torch.zeros(64, 100)
    model = GPTModel(SMALL)
    before = model.tok_emb.weight.clone()
    with pytest.raises(
        ValueError,
        match=r"'h\.1\.mlp\.c_fc\.weight' has shape \(64, 100\).*"
        r"'trf_blocks\.1\.ff\.layers\.0\.weight' needs \(256, 64\)",
    ):
        load_hf_state_dict(model, state)
    assert torch.equal(model.tok_emb.weight, before)  # nothing was copied


def test_wrong_config_is_explained(small_pair):
    hf, _ = small_pair
    state = hf.state_dict()
    with pytest.raises(ValueError, match=r"'wte.weight' has shape \(50257, 64\)"):
        load_hf_state_dict(GPTModel(GPTConfig(**{**SMALL.to_dict(), "emb_dim": 32})), state)
    with pytest.raises(ValueError, match=r"no tensor 'h\.3\.ln_1\.weight'"):
        load_hf_state_dict(GPTModel(GPTConfig(**{**SMALL.to_dict(), "n_layers": 4})), state)
    with pytest.raises(ValueError, match="no place for"):
        load_hf_state_dict(GPTModel(GPTConfig(**{**SMALL.to_dict(), "n_layers": 2})), state)
    with pytest.raises(ValueError, match="qkv_bias=True"):
        load_hf_state_dict(GPTModel(GPTConfig(**{**SMALL.to_dict(), "qkv_bias": False})), state)
    partial = {k: v for k, v in state.items() if k != "transformer.ln_f.bias"}
    with pytest.raises(ValueError, match=r"no tensor 'ln_f\.bias'"):
        load_hf_state_dict(GPTModel(SMALL), partial)


def test_a_downloaded_gpt2_is_found_in_the_local_cache_and_loads(tmp_path, small_pair, tokenizer):
    hf, _ = small_pair
    assert cached_pretrained_folder("gpt2", cache_dir=tmp_path) is None
    snapshot = fake_hub_cache(tmp_path, hf, "openai-community/gpt2")
    folder = cached_pretrained_folder("gpt2", cache_dir=tmp_path)
    assert folder == snapshot
    model = load_local(folder)
    assert model.cfg == SMALL
    assert model.out_head.weight.stride() == (1, SMALL.vocab_size)  # the fast (in, out) layout survives loading
    ids = torch.tensor(tokenizer.encode("Loaded from the cache"))
    assert_trace_matches(hf, model, ids)


def test_broken_folders_are_explained(tmp_path, small_pair):
    with pytest.raises(ValueError, match=r"has no model\.safetensors; a GPT-2 folder needs config\.json"):
        load_local(tmp_path)
    with pytest.raises(ValueError, match="unknown pretrained model 'gpt5'"):
        cached_pretrained_folder("gpt5")
    hf, _ = small_pair
    hf.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"n_embd": 64}')
    with pytest.raises(ValueError, match="no 'vocab_size' entry"):
        load_local(tmp_path / "m")
