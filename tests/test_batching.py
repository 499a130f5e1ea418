"""Batched traces and generation give every sequence what it would get alone."""

import numpy as np
import pytest
import torch

from gptcore import generate_steps, trace
from gptcore.batching import LensReading, read_lens_chunk, trace_batch
from gptcore.decoding import DecodeBatch
from gptcore.lens import logit_lens, stream_rows
from gptcore.trace import LAYER_FIELDS

PROMPTS = [
    "Every effort moves you",
    "The",
    "In the heart of the city stood an old library, where",
    "Hello, world! 1 2 3",
    "A cat sat on the mat and looked at the dog, who",
]
# Decoding settings per sequence: greedy, and seeded sampling with each filter.
SETTINGS = [
    {},
    {"temperature": 1.0, "seed": 1},
    {"temperature": 0.7, "top_k": 20, "seed": 2},
    {"temperature": 1.3, "top_p": 0.9, "seed": 3},
    {"temperature": 1.0, "top_k": 5, "top_p": 0.5, "seed": 4},
]


@pytest.fixture(scope="module")
def prompt_ids(tokenizer):
    return [tokenizer.encode(prompt) for prompt in PROMPTS]


def test_each_trace_of_a_batch_is_its_own_trace(tiny_model, prompt_ids):
    batched = trace_batch(tiny_model, prompt_ids)
    assert len(batched) == len(prompt_ids)
    for ids, got in zip(prompt_ids, batched, strict=True):
        alone = trace(tiny_model, ids)
        assert got.num_tokens == len(ids) and got.token_ids.tolist() == ids
        for name in LAYER_FIELDS:
            for layer in range(alone.n_layers):
                expected = alone.layer(name, layer)
                assert got.layer(name, layer).shape == expected.shape, name  # sized to the sequence
                np.testing.assert_allclose(got.layer(name, layer), expected, atol=1e-5, err_msg=name)
        for name in ("tok_emb", "pos_emb", "embeddings", "final_norm_out", "final_norm_var", "logits"):
            np.testing.assert_allclose(getattr(got, name), getattr(alone, name), atol=1e-5, err_msg=name)
        np.testing.assert_allclose(got.attention_head(1, 2), alone.attention_head(1, 2), atol=1e-5)


def test_a_trace_of_the_batch_owns_only_its_own_memory(tiny_model, prompt_ids):
    short, long = trace_batch(tiny_model, [prompt_ids[1], prompt_ids[2]])

    def per_token_bytes(t):  # all but the one (vocab,) row of logits
        return t.nbytes - t.last_logits.nbytes

    assert per_token_bytes(short) < per_token_bytes(long) / 5  # not the padded batch's arrays
    assert short.attention(0).shape == (tiny_model.cfg.n_heads, 1, 1)


def test_lens_readings_read_together_a_chunk_at_a_time_each_get_their_own_lens(tiny_model, prompt_ids):
    traces = [trace(tiny_model, ids) for ids in prompt_ids]
    windows = [slice(None), slice(0, 1), slice(2, 9), slice(None), slice(5, None)]
    readings = [LensReading(stream_rows(t, w), k) for t, w, k in zip(traces, windows, [5, 3, 7, 5, 1], strict=True)]
    products = 0
    while read_lens_chunk(tiny_model, readings, max_rows=16):  # chunks cut readings and span several
        products += 1
    assert all(reading.done for reading in readings)
    assert products == -(-sum(reading.total for reading in readings) // 16)  # every product full but the last
    for t, window, reading in zip(traces, windows, readings, strict=True):
        alone_ids, alone_probs = logit_lens(tiny_model, t, k=reading.k, positions=window)
        ids, probs = reading.result()
        np.testing.assert_array_equal(ids, alone_ids)
        np.testing.assert_allclose(probs, alone_probs, rtol=1e-5)
    with pytest.raises(ValueError, match="stream rows"):
        LensReading(stream_rows(traces[0], slice(0, 0)))


def test_an_empty_batch_gives_no_traces(tiny_model):
    assert trace_batch(tiny_model, []) == []


def steps_alone(model, ids, max_new_tokens, **settings):
    return list(generate_steps(model, torch.tensor(ids), max_new_tokens, model.cfg.context_length, **settings))


def assert_same_steps(got, expected):
    assert [s.token_id for s in got] == [s.token_id for s in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.rank == theirs.rank
        assert mine.prob == pytest.approx(theirs.prob, abs=1e-5)
        np.testing.assert_allclose([c.prob for c in mine.candidates], [c.prob for c in theirs.candidates], atol=1e-5)


def test_generating_together_gives_each_sequence_its_own_tokens(tiny_model, prompt_ids):
    batch = DecodeBatch(tiny_model)
    generations = [batch.join(ids, 8, **settings) for ids, settings in zip(prompt_ids, SETTINGS, strict=True)]
    while len(batch):
        batch.step()
    for ids, settings, generation in zip(prompt_ids, SETTINGS, generations, strict=True):
        assert_same_steps(generation.steps, steps_alone(tiny_model, ids, 8, **settings))


def test_sequences_join_and_leave_between_steps(tiny_model, prompt_ids):
    batch = DecodeBatch(tiny_model)
    first = batch.join(prompt_ids[0], 3)
    batch.step()
    second = batch.join(prompt_ids[2], 6, temperature=1.0, seed=9)
    assert len(batch) == 2
    batch.step()
    batch.step()  # the first is done after its third token and leaves
    assert len(batch) == 1 and first.done
    third = batch.join(prompt_ids[4], 2)
    while len(batch):
        batch.step()
    assert_same_steps(first.steps, steps_alone(tiny_model, prompt_ids[0], 3))
    assert_same_steps(second.steps, steps_alone(tiny_model, prompt_ids[2], 6, temperature=1.0, seed=9))
    assert_same_steps(third.steps, steps_alone(tiny_model, prompt_ids[4], 2))


def test_a_sequence_that_outgrows_the_context_slides_its_window_as_alone(tiny_model, tokenizer):
    context = tiny_model.cfg.context_length
    long_ids = list(range(1000, 1000 + context - 3))  # 3 tokens of room left in the context
    batch = DecodeBatch(tiny_model)
    sliding = batch.join(long_ids, 7)
    short_ids = tokenizer.encode("Once upon a time")
    short = batch.join(short_ids, 7, temperature=0.9, seed=5)
    while len(batch):
        batch.step()
    assert_same_steps(sliding.steps, steps_alone(tiny_model, long_ids, 7))
    assert_same_steps(
        short.steps, steps_alone(tiny_model, tokenizer.encode("Once upon a time"), 7, temperature=0.9, seed=5)
    )


def test_end_of_text_ends_a_sequence_early_and_bad_settings_are_refused(tiny_model, prompt_ids):
    batch = DecodeBatch(tiny_model)
    expected = steps_alone(tiny_model, prompt_ids[0], 5)
    eos = expected[1].token_id  # make the second greedy token the end
    generation = batch.join(prompt_ids[0], 5, eos_id=eos)
    while len(batch):
        batch.step()
    assert [s.token_id for s in generation.steps] == [s.token_id for s in expected[:2]]
    with pytest.raises(ValueError, match="temperature"):
        batch.join(prompt_ids[0], 5, temperature=-1.0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        batch.join([tiny_model.cfg.vocab_size], 5)
    assert batch.join(prompt_ids[0], 0).steps == [] and len(batch) == 0
