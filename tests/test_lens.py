from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch

from gptcore import (
    PRESETS,
    build_model,
    lens,
    token_labels,
    trace,
)
from gptcore.lens import lens_top_k, logit_lens, residual_norms, residual_place, stream_names, top_k
from ui.tables import lens_position_frame, lens_top_labels


@pytest.fixture
def tiny_trace(tiny_model, prompt_ids):
    return trace(tiny_model, prompt_ids)


def test_residual_stream_runs_from_the_embeddings_to_the_last_blocks_output(tiny_trace):
    stream = np.stack([residual_place(tiny_trace, place) for place in range(tiny_trace.n_layers + 1)])
    n_tokens, width = tiny_trace.embeddings.shape
    assert stream.shape == (tiny_trace.n_layers + 1, n_tokens, width)
    np.testing.assert_array_equal(stream[0], tiny_trace.embeddings)
    np.testing.assert_array_equal(stream[1], tiny_trace.layer("resid_post", 0))  # block 1 reads block 0's output
    np.testing.assert_array_equal(stream[-1], tiny_trace.layer("resid_post", -1))
    with pytest.raises(ValueError, match="does not exist"):
        residual_place(tiny_trace, tiny_trace.n_layers + 1)
    assert stream_names(2) == ["enters block 0", "enters block 1", "leaves block 1"]


def test_residual_norms_are_read_a_layer_at_a_time(tiny_model, prompt_ids):
    fresh = trace(tiny_model, prompt_ids)  # a trace nobody has stacked yet
    norms = residual_norms(fresh)
    assert norms.shape == (fresh.n_layers + 1, fresh.num_tokens)
    assert norms.dtype == np.float32
    np.testing.assert_allclose(norms[0, 2], np.sqrt((fresh.embeddings[2].astype(np.float64) ** 2).sum()), rtol=1e-5)
    stream = np.stack([residual_place(fresh, place) for place in range(fresh.n_layers + 1)])  # (L + 1, T, d)
    expected = np.linalg.norm(stream.astype(np.float64), axis=-1)
    np.testing.assert_allclose(norms, expected, rtol=1e-5)
    logit_lens(tiny_model, fresh, k=2)
    assert not fresh._stacked  # neither left a stacked (L, T, d) copy in the shared trace


def test_top_k_lists_the_most_likely_tokens_first(tiny_trace):
    probs = tiny_trace.probabilities(-1)
    ids, top_probs = top_k(probs, 10)
    assert ids.shape == top_probs.shape == (10,)
    np.testing.assert_array_equal(ids, np.argsort(-probs, kind="stable")[:10])
    np.testing.assert_array_equal(top_probs, probs[ids])
    assert (np.diff(top_probs) <= 0).all()
    tie_ids, tie_probs = top_k(np.array([0.1, 0.4, 0.1, 0.4]), 3)  # ties keep the order of their ids
    assert tie_ids.tolist() == [1, 3, 0] and tie_probs.tolist() == [0.4, 0.4, 0.1]
    batch_ids, batch_probs = top_k(np.stack([probs, probs[::-1]]), 2)  # (2, vocab) -> (2, 2)
    assert batch_ids.shape == batch_probs.shape == (2, 2)
    assert batch_ids[1].tolist() == [len(probs) - 1 - i for i in ids[:2]]
    for bad_k in (0, len(probs) + 1):
        with pytest.raises(ValueError, match="k must be between"):
            top_k(probs, bad_k)


def test_last_lens_entry_is_the_models_own_top_k(tiny_model, tiny_trace):
    ids, probs = logit_lens(tiny_model, tiny_trace, k=5)
    expected_ids = np.argsort(-tiny_trace.logits, axis=-1, kind="stable")[:, :5]  # (T, 5)
    np.testing.assert_array_equal(ids[-1], expected_ids)
    expected_probs = np.stack([tiny_trace.probabilities(t)[expected_ids[t]] for t in range(tiny_trace.num_tokens)])
    np.testing.assert_allclose(probs[-1], expected_probs, rtol=1e-5, atol=1e-9)


def test_lens_shapes_and_probabilities_are_sorted_and_in_range(tiny_model, tiny_trace):
    ids, probs = logit_lens(tiny_model, tiny_trace, k=7)
    assert ids.shape == probs.shape == (tiny_trace.n_layers + 1, tiny_trace.num_tokens, 7)
    assert ids.dtype == np.int64
    assert ((ids >= 0) & (ids < tiny_model.cfg.vocab_size)).all()
    assert ((probs > 0) & (probs <= 1)).all()
    assert (np.diff(probs, axis=-1) <= 0).all()  # most likely first
    assert (probs.sum(axis=-1) <= 1 + 1e-9).all()
    assert len({tuple(row) for row in ids.reshape(-1, 7)}) > 1  # not one answer copied everywhere


def test_first_lens_entry_reads_the_embeddings_through_the_output_head(tiny_model, tiny_trace):
    with torch.no_grad():
        logits = tiny_model.out_head(tiny_model.final_norm(torch.tensor(tiny_trace.embeddings)))  # (T, vocab)
    ids, probs = logit_lens(tiny_model, tiny_trace, k=3)
    expected = torch.softmax(logits.double(), dim=-1).topk(3)
    np.testing.assert_array_equal(ids[0], expected.indices.numpy())
    np.testing.assert_allclose(probs[0], expected.values.numpy(), rtol=1e-5)


def test_lens_leaves_the_model_alone_and_handles_a_one_token_prompt(tiny_model):
    before = {name: tensor.clone() for name, tensor in tiny_model.state_dict().items()}
    one_token = trace(tiny_model, [50256])  # "<|endoftext|>" alone
    ids, probs = logit_lens(tiny_model, one_token, k=5)
    assert ids.shape == probs.shape == (3, 1, 5)
    np.testing.assert_array_equal(ids[-1], np.argsort(-one_token.logits, axis=-1)[:, :5])
    assert not tiny_model.training
    assert all(p.grad is None for p in tiny_model.parameters())
    after = tiny_model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_lens_runs_each_stream_place_inside_its_own_step(tiny_model, tiny_trace):
    events = []

    @contextmanager
    def step():
        events.append("enter")
        yield
        events.append("exit")

    ids, probs = logit_lens(tiny_model, tiny_trace, k=3, step=step)
    assert events == ["enter", "exit"] * (tiny_trace.n_layers + 1)  # one turn per place, never nested
    plain_ids, plain_probs = logit_lens(tiny_model, tiny_trace, k=3)
    np.testing.assert_array_equal(ids, plain_ids)
    np.testing.assert_array_equal(probs, plain_probs)
    events.clear()
    with pytest.raises(ValueError, match="k must be between"):
        logit_lens(tiny_model, tiny_trace, k=0, step=step)
    assert not events  # a bad call is refused before taking any turn


def test_lens_rejects_a_trace_from_another_model_and_a_bad_k(tiny_model, tiny_trace):
    other = build_model(replace(PRESETS["tiny"], n_layers=3), seed=1)
    with pytest.raises(ValueError, match="trace the prompt with this model"):
        logit_lens(other, tiny_trace)
    with pytest.raises(ValueError, match="k must be between"):
        logit_lens(tiny_model, tiny_trace, k=0)


def test_lens_gives_the_same_answer_in_chunks_of_positions(tiny_model, tiny_trace, monkeypatch):
    whole_ids, whole_probs = lens_top_k(tiny_model, tiny_trace.embeddings, k=4)
    monkeypatch.setattr(lens, "LENS_CHUNK", 3)  # 8 tokens -> chunks of 3, 3 and 2
    chunked_ids, chunked_probs = lens_top_k(tiny_model, tiny_trace.embeddings, k=4)
    np.testing.assert_array_equal(chunked_ids, whole_ids)
    np.testing.assert_allclose(chunked_probs, whole_probs, rtol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        lens_top_k(tiny_model, np.zeros((4, 16), dtype=np.float32))


def test_lens_of_some_positions_is_those_positions_of_the_whole_lens(tiny_model, tiny_trace):
    whole_ids, whole_probs = logit_lens(tiny_model, tiny_trace, k=3)  # (L + 1, T, 3)
    ids, probs = logit_lens(tiny_model, tiny_trace, k=3, positions=slice(2, 6))
    assert ids.shape == probs.shape == (tiny_trace.n_layers + 1, 4, 3)
    np.testing.assert_array_equal(ids, whole_ids[:, 2:6])
    np.testing.assert_allclose(probs, whole_probs[:, 2:6], rtol=1e-6)


def test_position_frame_lists_each_places_top_tokens(tiny_model, tiny_trace):
    ids, probs = logit_lens(tiny_model, tiny_trace, k=4)
    frame = lens_position_frame(ids, probs, position=-1)
    assert len(frame) == (tiny_trace.n_layers + 1) * 4
    assert frame["stream"].iloc[0] == "enters block 0" and frame["stream"].iloc[-1] == "leaves block 1"
    assert frame["rank"].tolist()[:4] == [1, 2, 3, 4]
    last_place = frame[frame["stream"] == "leaves block 1"]
    assert last_place["token id"].tolist() == ids[-1, -1].tolist()
    assert last_place["token"].tolist() == token_labels(ids[-1, -1].tolist())
    np.testing.assert_allclose(last_place["probability"], probs[-1, -1])
    with pytest.raises(ValueError, match="does not exist"):
        lens_position_frame(ids, probs, position=tiny_trace.num_tokens)
    labels = lens_top_labels(ids)
    assert labels.shape == ids.shape[:2]
    assert labels[-1, 0] == token_labels([int(ids[-1, 0, 0])])[0]
