import pytest
import torch

from gptcore import Candidate, Step, generate, generate_steps, generate_text_simple, get_tokenizer, token_labels
from gptcore.generation import MAX_NEW_TOKENS_LIMIT, next_token_distribution, split_generated_text
from ui.tables import candidates_frame, steps_frame


def test_greedy_generate_equals_the_books_loop(book_model, tokenizer):
    idx = torch.tensor([tokenizer.encode("Hello, I am")])
    expected = generate_text_simple(book_model, idx, max_new_tokens=6, context_size=1024)
    assert torch.equal(generate(book_model, idx, max_new_tokens=6, context_size=1024), expected)


def test_greedy_generate_equals_the_books_loop_past_the_context(tiny_model):
    # 50 prompt tokens + 40 new ones overflow the 64-token context: the window must slide.
    idx = torch.randint(0, 50257, (2, 50), generator=torch.Generator().manual_seed(1))
    expected = generate_text_simple(tiny_model, idx, max_new_tokens=40, context_size=64)
    assert torch.equal(generate(tiny_model, idx, max_new_tokens=40, context_size=64), expected)
    # a smaller window than the model's context is honoured too
    expected = generate_text_simple(tiny_model, idx, max_new_tokens=10, context_size=8)
    assert torch.equal(generate(tiny_model, idx, max_new_tokens=10, context_size=8), expected)


def test_prompt_longer_than_context_is_cropped_to_its_last_tokens(tiny_model):
    long_prompt = torch.randint(0, 50257, (1, 200), generator=torch.Generator().manual_seed(2))
    out = generate(tiny_model, long_prompt, max_new_tokens=3, context_size=64)
    assert out.shape == (1, 203)
    assert torch.equal(out[:, :200], long_prompt)
    cropped = generate(tiny_model, long_prompt[:, -64:], max_new_tokens=3, context_size=64)
    assert torch.equal(out[:, -3:], cropped[:, -3:])


def test_kv_cache_gives_the_same_logits_as_a_full_pass(tiny_model):
    ids = torch.tensor([[10, 20, 30, 40, 50, 60]])
    with torch.no_grad():
        full = tiny_model(ids)
        cache = tiny_model.new_cache()
        prefix = tiny_model(ids[:, :4], cache)
        step5 = tiny_model(ids[:, 4:5], cache)
        step6 = tiny_model(ids[:, 5:6], cache)
    torch.testing.assert_close(torch.cat([prefix, step5, step6], dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 6


def test_sampling_is_reproducible_with_a_seed_and_leaves_global_rng_alone(tiny_model):
    idx = torch.tensor([[1, 2, 3]])
    torch.manual_seed(0)
    expected_global = torch.rand(2)
    torch.manual_seed(0)
    first = generate(tiny_model, idx, 20, 64, temperature=1.5, seed=42)
    second = generate(tiny_model, idx, 20, 64, temperature=1.5, seed=42)
    assert torch.equal(first, second)
    assert torch.equal(torch.rand(2), expected_global)
    other = generate(tiny_model, idx, 20, 64, temperature=1.5, seed=43)
    assert not torch.equal(first, other)


def test_top_k_one_and_tiny_top_p_are_greedy(tiny_model):
    idx = torch.tensor([[7, 8, 9]])
    greedy = generate(tiny_model, idx, 10, 64)
    assert torch.equal(generate(tiny_model, idx, 10, 64, temperature=2.0, top_k=1, seed=0), greedy)
    assert torch.equal(generate(tiny_model, idx, 10, 64, temperature=2.0, top_p=1e-9, seed=0), greedy)


def test_distribution_filters():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    top2 = next_token_distribution(logits, temperature=1.0, top_k=2)
    assert (top2[0, 2:] == 0).all()
    torch.testing.assert_close(top2.sum(), torch.tensor(1.0))
    plain = torch.softmax(logits, dim=-1)
    # top_p keeps the smallest set of leading tokens whose mass reaches p
    nucleus = next_token_distribution(logits, temperature=1.0, top_p=float(plain[0, 0]) + 1e-4)
    assert (nucleus[0] > 0).tolist() == [True, True, False, False]
    sharper = next_token_distribution(logits, temperature=0.5)
    assert sharper[0, 0] > plain[0, 0]


def test_eos_stops_generation(tiny_model):
    idx = torch.tensor([[1, 2, 3]])
    greedy = generate(tiny_model, idx, 10, 64)
    eos = int(greedy[0, 5])  # the third new token
    stopped = generate(tiny_model, idx, 10, 64, eos_id=eos)
    first_eos = int((greedy[0, 3:] == eos).nonzero()[0]) + 3
    assert stopped.tolist()[0] == greedy.tolist()[0][: first_eos + 1]
    steps = list(generate_steps(tiny_model, idx, 10, 64, eos_id=eos))
    assert steps[-1].token_id == eos and len(steps) == first_eos - 2


@pytest.mark.parametrize(
    "sampling", [{}, {"temperature": 0.8, "top_k": 20, "seed": 3}, {"temperature": 1.0, "top_p": 0.9, "seed": 4}]
)
def test_generate_steps_chooses_the_same_tokens_as_generate(tiny_model, sampling):
    idx = torch.tensor([[11, 12, 13]])
    ids = generate(tiny_model, idx, 12, 64, **sampling)[0, 3:].tolist()
    steps = list(generate_steps(tiny_model, idx, 12, 64, num_candidates=5, **sampling))
    assert [s.token_id for s in steps] == ids
    assert [s.index for s in steps] == list(range(12))
    for step in steps:
        probs = [c.prob for c in step.candidates]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)
        assert sum(probs) <= 1.0 + 1e-6
        assert step.rank >= 1
        if step.rank <= 5:
            assert step.candidates[step.rank - 1].prob == pytest.approx(step.prob)


def test_greedy_steps_report_the_most_likely_token(tiny_model):
    for step in generate_steps(tiny_model, torch.tensor([1, 2]), 5, 64):
        assert step.rank == 1 and step.candidates[0].token_id == step.token_id


def test_top_k_steps_show_filtered_tokens_with_zero_probability(tiny_model):
    steps = list(
        generate_steps(tiny_model, torch.tensor([[1, 2]]), 3, 64, temperature=1.0, top_k=3, seed=0, num_candidates=6)
    )
    for step in steps:
        assert all(c.prob > 0 for c in step.candidates[:3])
        assert all(c.prob == 0 for c in step.candidates[3:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": -1}, "max_new_tokens must be between 0"),
        ({"max_new_tokens": MAX_NEW_TOKENS_LIMIT + 1}, "max_new_tokens must be between 0"),
        ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer"),
        ({"context_size": 0}, "context_size must be between 1"),
        ({"context_size": 65}, "context_size must be between 1"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_bad_generation_arguments_are_explained(tiny_model, kwargs, message):
    args = {"max_new_tokens": 3, "context_size": 64, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(tiny_model, torch.tensor([[1, 2]]), **args)
    with pytest.raises(ValueError, match=message):
        list(generate_steps(tiny_model, torch.tensor([[1, 2]]), **args))


def test_bad_prompts_are_explained(tiny_model):
    with pytest.raises(ValueError, match="empty"):
        generate(tiny_model, torch.zeros(1, 0, dtype=torch.long), 3, 64)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        generate(tiny_model, torch.tensor([[1, 99999]]), 3, 64)
    with pytest.raises(ValueError, match="one sequence"):
        list(generate_steps(tiny_model, torch.tensor([[1, 2], [3, 4]]), 3, 64))


def test_zero_new_tokens_returns_the_prompt(tiny_model):
    idx = torch.tensor([[1, 2, 3]])
    assert torch.equal(generate(tiny_model, idx, 0, 64), idx)
    assert list(generate_steps(tiny_model, idx, 0, 64)) == []


def test_steps_frame_matches_greedy_generation(tiny_model):
    idx = torch.tensor([[10, 20, 30]])
    steps = list(generate_steps(tiny_model, idx, 6, context_size=64, num_candidates=5))
    frame = steps_frame(steps)
    assert frame["step"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["token id"].tolist() == generate(tiny_model, idx, 6, 64)[0, 3:].tolist()
    assert (frame["rank"] == 1).all()  # greedy always takes the top candidate
    assert frame["token"].tolist() == token_labels(frame["token id"].tolist())
    assert steps_frame([]).empty


def test_candidates_frame_marks_the_choice_and_adds_it_when_outside_the_list():
    step = Step(
        index=0,
        token_id=99,
        prob=0.01,
        rank=8,
        candidates=(Candidate(11, 0.5), Candidate(12, 0.3), Candidate(13, 0.0)),  # 13 was filtered out
    )
    frame = candidates_frame(step)
    assert frame["token id"].tolist() == [11, 12, 99]
    assert frame["rank"].tolist() == [1, 2, 8]
    assert frame["chosen"].tolist() == [False, False, True]
    assert frame["bar"].is_unique
    inside = candidates_frame(Step(index=1, token_id=12, prob=0.3, rank=2, candidates=step.candidates))
    assert inside["chosen"].tolist() == [False, True]


def test_split_generated_text_keeps_characters_spread_over_tokens():
    tokenizer = get_tokenizer()
    prompt = tokenizer.encode("Say <|endoftext|>")
    llama = tokenizer.encode(" 🦙!")  # the emoji takes several tokens
    assert split_generated_text(prompt, llama) == ("Say <|endoftext|>", " 🦙!")
    _, half_written = split_generated_text(prompt, llama[:2])
    assert "\ufffd" in half_written and "🦙" not in half_written


def test_greedy_steps_read_off_the_candidates_pick_what_argmax_picks_even_in_a_tie():
    from gptcore.generation import steps_of_rows

    probs = torch.tensor([[0.1, 0.4, 0.1, 0.4], [0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    steps = steps_of_rows([0, 3, 5], probs, None, num_candidates=1)
    assert [step.token_id for step in steps] == probs.argmax(dim=-1).tolist() == [1, 0, 0]
    assert [step.rank for step in steps] == [1, 1, 1] and [step.index for step in steps] == [0, 3, 5]
    assert [step.prob for step in steps] == pytest.approx([0.4, 0.7, 0.25])
    assert all(len(step.candidates) == 1 for step in steps)
    chosen = steps_of_rows([0, 3, 5], probs, probs.argmax(dim=-1), num_candidates=1)
    assert [(s.token_id, s.prob, s.rank) for s in chosen] == [(s.token_id, s.prob, s.rank) for s in steps]
