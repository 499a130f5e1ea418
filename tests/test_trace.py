import pickle
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from gptcore import PRESETS, HookPoint, build_model, trace
from gptcore.hooks import Recorder, recording
from gptcore.trace import LAYER_FIELDS


def test_shapes(tiny_model, prompt_ids):
    t = trace(tiny_model, prompt_ids)
    cfg = tiny_model.cfg
    T, L, H, d = len(prompt_ids), cfg.n_layers, cfg.n_heads, cfg.emb_dim
    assert t.num_tokens == T and t.n_layers == L and t.n_heads == H
    assert t.logits.shape == (T, cfg.vocab_size)
    assert t.attention(0).shape == (H, T, T)
    assert t.scores(L - 1).shape == (H, T, T)
    for name in ("tok_emb", "pos_emb", "embeddings", "final_norm_out"):
        assert getattr(t, name).shape == (T, d), name
    for name in ("resid_pre", "resid_mid", "resid_post", "attn_out", "ff_out", "norm1_out", "norm2_out"):
        assert getattr(t, name).shape == (L, T, d), name
    for name in ("norm1_mean", "norm1_var", "norm2_mean", "norm2_var"):
        assert getattr(t, name).shape == (L, T), name
    assert t.final_norm_mean.shape == t.final_norm_var.shape == (T,)
    assert t.gelu.shape == (L, T, 4 * d)
    assert t.layer("gelu", 1).shape == (T, 4 * d)
    assert all(isinstance(getattr(t, name), np.ndarray) for name in LAYER_FIELDS)
    with pytest.raises(ValueError, match="unknown per-layer field"):
        t.layer("gelu_out", 0)
    with pytest.raises(AttributeError):
        t.not_a_field  # noqa: B018


def test_trace_arrays_are_read_only(tiny_model, prompt_ids):
    t = trace(tiny_model, prompt_ids)
    for array in (t.logits, t.attention(0), t.resid_pre, t.norm1_mean, t.token_ids, t.pos_emb):
        with pytest.raises(ValueError, match="read-only"):
            array[..., 0] = 0
    prompt_ids[0] = 0  # changing the caller's tensor afterwards does not change the record
    assert t.token_ids[0] != 0


def test_trace_survives_pickling(tiny_model, prompt_ids):
    # st.cache_data stores traces pickled; the lazily stacked fields must come back intact.
    t = trace(tiny_model, prompt_ids)
    t.resid_pre  # noqa: B018  (build one stack before pickling)
    copy = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(copy.resid_pre, t.resid_pre)
    np.testing.assert_array_equal(copy.attn_weights, t.attn_weights)
    np.testing.assert_array_equal(copy.logits, t.logits)


def test_single_token_trace_keeps_its_axes(tiny_model):
    t = trace(tiny_model, [42])
    assert t.pos_emb.shape == (1, tiny_model.cfg.emb_dim)
    assert t.attention(0).shape == (tiny_model.cfg.n_heads, 1, 1)
    assert t.norm1_mean.shape == (tiny_model.cfg.n_layers, 1)


def test_traced_logits_equal_a_plain_forward_pass(book_model, tokenizer):
    ids = torch.tensor(tokenizer.encode("Every effort moves you"))
    with torch.no_grad():
        plain = book_model(ids.unsqueeze(0))[0].numpy()
    np.testing.assert_array_equal(trace(book_model, ids).logits, plain)


def test_internals_fit_together(tiny_model, prompt_ids):
    t = trace(tiny_model, prompt_ids)
    np.testing.assert_allclose(t.embeddings, t.tok_emb + t.pos_emb, atol=1e-6)
    np.testing.assert_array_equal(t.resid_pre[0], t.embeddings)
    np.testing.assert_allclose(t.resid_mid, t.resid_pre + t.attn_out, atol=1e-6)
    np.testing.assert_allclose(t.resid_post, t.resid_mid + t.ff_out, atol=1e-6)
    np.testing.assert_array_equal(t.resid_post[:-1], t.resid_pre[1:])
    np.testing.assert_allclose(t.norm1_mean, t.resid_pre.mean(axis=-1), atol=1e-6)
    np.testing.assert_allclose(t.norm2_var, t.resid_mid.var(axis=-1), rtol=1e-4)
    np.testing.assert_allclose(t.final_norm_mean, t.resid_post[-1].mean(axis=-1), atol=1e-6)
    logits = t.final_norm_out @ tiny_model.out_head.weight.detach().numpy().T
    np.testing.assert_allclose(t.logits, logits, atol=1e-4)
    np.testing.assert_allclose(t.probabilities(-1).sum(), 1.0)


def test_attention_pattern_is_causal_and_normalised(tiny_model, prompt_ids):
    t = trace(tiny_model, prompt_ids)
    above_diagonal = np.triu(np.ones((t.num_tokens, t.num_tokens), dtype=bool), k=1)
    for layer in range(t.n_layers):
        weights, scores = t.attention(layer), t.scores(layer)
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
        assert (weights[:, above_diagonal] == 0).all()
        assert np.isneginf(scores[:, above_diagonal]).all()
        assert np.isfinite(scores[:, ~above_diagonal]).all()
        softmax = np.exp(scores - scores.max(axis=-1, keepdims=True))
        np.testing.assert_allclose(weights, softmax / softmax.sum(axis=-1, keepdims=True), atol=1e-6)
    assert np.all(t.attention(0)[:, 0, 0] == 1.0)  # the first token can only attend to itself
    with pytest.raises(ValueError, match="layer 5 does not exist"):
        t.attention(5)


def test_derived_attention_maps_are_the_forward_pass_maps_bit_for_bit(tiny_model, tokenizer):
    # A trace stores queries and keys; scores and patterns are recomputed on demand and must not differ at all.
    ids = torch.tensor(tokenizer.encode("Patterns come from the stored queries and keys. " * 5))
    recorder = Recorder(keep=lambda name: name.endswith(("att.hook_weights", "att.hook_scores")))
    with torch.no_grad(), recording(recorder):
        tiny_model(ids.unsqueeze(0))
    t = trace(tiny_model, ids)
    assert "attn_weights" not in t.layers and "attn_scores" not in t.layers  # nothing of size L·H·T² is kept
    one_map = t.n_heads * t.num_tokens**2  # (H, T, T)
    assert max(array.size for arrays in t.layers.values() for array in arrays) < one_map
    for layer in range(t.n_layers):
        forward_weights = recorder.tensors[f"trf_blocks.{layer}.att.hook_weights"][0].numpy()
        forward_scores = recorder.tensors[f"trf_blocks.{layer}.att.hook_scores"][0].numpy()
        np.testing.assert_array_equal(t.attention(layer), forward_weights)
        np.testing.assert_array_equal(t.scores(layer), forward_scores)
        assert t.layer("attn_queries", layer).shape == t.layer("attn_keys", layer).shape == (4, t.num_tokens, 8)
    np.testing.assert_array_equal(t.attn_weights[1], t.attention(1))
    for layer, head in ((0, 0), (1, 3), (-1, -1)):
        np.testing.assert_array_equal(t.attention_head(layer, head), t.attention(layer)[head])
    with pytest.raises(ValueError, match="head 4 does not exist"):
        t.attention_head(0, 4)
    assert not t.attention(0).flags.writeable


def test_prompt_longer_than_context_is_cropped_and_says_so(tiny_model):
    ids = list(range(100, 170))  # 70 tokens, context 64
    t = trace(tiny_model, ids)
    assert t.n_cropped == 6 and t.num_tokens == 64
    assert t.token_ids.tolist() == ids[6:]
    np.testing.assert_array_equal(t.logits, trace(tiny_model, ids[6:]).logits)


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([], "empty"),
        ([1, 50257], "outside the vocabulary"),
        ([[1, 2], [3, 4]], "one sequence"),
        ([1.5, 2.0], "integers"),
    ],
)
def test_bad_token_ids_are_explained(tiny_model, ids, message):
    with pytest.raises(ValueError, match=message):
        trace(tiny_model, ids)


def test_training_mode_with_dropout_is_refused():
    model = build_model(replace(PRESETS["tiny"], drop_rate=0.1)).train()
    with pytest.raises(ValueError, match=r"model\.eval\(\)"):
        trace(model, [1, 2, 3])


def test_trace_leaves_no_hooks_and_no_changes(tiny_model, prompt_ids):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    trace(tiny_model, prompt_ids)
    for module in tiny_model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks and not module._backward_hooks
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    assert all(p.grad is None for p in tiny_model.parameters())
    hook_names = [m.name for m in tiny_model.modules() if isinstance(m, HookPoint)]
    assert len(hook_names) == len(set(hook_names)) and all(hook_names)


def test_concurrent_traces_in_threads_see_only_their_own_tensors(tiny_model, tokenizer, monkeypatch):
    prompts = ["The cat sat on the mat", "Quantum physics is strange", "🦙 llamas hum", "1 2 3 4 5 6 7 8"]
    expected = {p: trace(tiny_model, tokenizer.encode(p)) for p in prompts}

    # Force every thread to be in the middle of its forward pass at the same moment: each one
    # waits at its first hook point in block 1 until all the others have got there too.
    barrier = threading.Barrier(len(prompts), timeout=30)
    original_forward = HookPoint.forward

    def forward_with_rendezvous(self, x):
        if self.name == "trf_blocks.1.hook_resid_pre":
            barrier.wait()
        return original_forward(self, x)

    monkeypatch.setattr(HookPoint, "forward", forward_with_rendezvous)
    results: dict[str, list] = {}

    def run(prompt: str) -> None:
        for _ in range(3):
            results.setdefault(prompt, []).append(trace(tiny_model, tokenizer.encode(prompt)))

    threads = [threading.Thread(target=run, args=(p,)) for p in prompts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not barrier.broken
    for prompt in prompts:
        assert len(results[prompt]) == 3
        for got in results[prompt]:
            want = expected[prompt]
            assert got.token_ids.tolist() == want.token_ids.tolist()
            for field in ("embeddings", "resid_post", "attn_weights", "gelu", "logits"):
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
