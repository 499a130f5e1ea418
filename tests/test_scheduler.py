"""The scheduler thread: jobs from many threads run in batches and each gets its own result."""

import threading
import time
from contextlib import nullcontext
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gptcore import GPT_CONFIG_124M, PRESETS, GPTConfig, build_model, generate_steps, trace
from gptcore.decoding import cache_capacity
from gptcore.lens import logit_lens, stream_rows
from ui.jobs import JobCancelledError, TraceJob, generation_job, lens_job, steps_of, trace_job, wait_for
from ui.scheduler import Scheduler, _fits

PROMPTS = ["Every effort moves you", "The cat", "Once upon a time there was", "A B C D E F G", "Hello"]


class GatedTurn:
    """A turn the test can hold shut, so jobs pile up and the next batch takes them together."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.turns = 0
        self.kinds: list[str] = []

    def __call__(self, kind: str):
        self.open.wait()
        self.turns += 1
        self.kinds.append(kind)
        return nullcontext()


@pytest.fixture
def gate():
    return GatedTurn()


@pytest.fixture
def scheduler(gate):
    return Scheduler(turn=gate)


def test_traces_waiting_together_run_as_one_batch_and_equal_their_own(tiny_model, tokenizer, scheduler, gate):
    gate.open.clear()
    blocker = scheduler.submit(trace_job(tiny_model, "tiny", tuple(tokenizer.encode("Blocking"))))
    while scheduler.waiting():  # until the thread has taken the blocker and waits for its turn
        time.sleep(0.01)
    jobs = [scheduler.submit(trace_job(tiny_model, "tiny", tuple(tokenizer.encode(p)))) for p in PROMPTS]
    assert [scheduler.ahead_of(job) for job in jobs] == [1, 2, 3, 4, 5]  # in arrival order, behind the blocker
    gate.open.set()
    wait_for(scheduler, blocker, timeout=30)
    for prompt, job in zip(PROMPTS, jobs, strict=True):
        got = wait_for(scheduler, job, timeout=30)
        alone = trace(tiny_model, tokenizer.encode(prompt))
        np.testing.assert_allclose(got.logits, alone.logits, atol=1e-5)
        np.testing.assert_allclose(got.attention(1), alone.attention(1), atol=1e-5)
    assert max(size for kind, size in scheduler.batch_sizes if kind == "trace") == len(PROMPTS)


def test_generations_from_many_threads_each_get_their_own_text(tiny_model, tokenizer, scheduler):
    settings = [{}, {"temperature": 1.0, "seed": 3}, {"temperature": 0.8, "top_k": 10, "seed": 4}, {}, {}]
    results: dict[int, list] = {}

    def student(index: int) -> None:
        ids = tuple(tokenizer.encode(PROMPTS[index]))
        job = generation_job(tiny_model, "tiny", ids, max_new_tokens=6, **settings[index])
        scheduler.submit(job)
        results[index] = [step for arrived in steps_of(scheduler, job) for step in arrived]

    threads = [threading.Thread(target=student, args=(i,)) for i in range(len(PROMPTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for index, prompt in enumerate(PROMPTS):
        ids = torch.tensor(tokenizer.encode(prompt))
        alone = list(generate_steps(tiny_model, ids, 6, tiny_model.cfg.context_length, **settings[index]))
        assert [s.token_id for s in results[index]] == [s.token_id for s in alone]
    assert scheduler.tokens_generated == 6 * len(PROMPTS)
    assert max(size for kind, size in scheduler.batch_sizes if kind == "decode") > 1  # steps were shared


def test_a_bad_prompt_fails_alone_and_a_cancelled_generation_leaves(tiny_model, tokenizer, scheduler, gate):
    with pytest.raises(ValueError, match="empty"):
        trace_job(tiny_model, "tiny", ())
    gate.open.clear()
    good = scheduler.submit(trace_job(tiny_model, "tiny", tuple(tokenizer.encode("Fine"))))
    job = scheduler.submit(generation_job(tiny_model, "tiny", tuple(tokenizer.encode("Hi")), max_new_tokens=50))
    gate.open.set()
    steps = steps_of(scheduler, job)
    next(steps)
    steps.close()  # the student left
    assert job.cancelled
    wait_for(scheduler, good, timeout=30)
    job.done.wait(30)
    assert isinstance(job.error, JobCancelledError) and scheduler.generating() == 0


def test_a_wait_past_its_bound_gives_up_and_leaves_the_queue(tiny_model, tokenizer, scheduler, gate):
    gate.open.clear()
    first = scheduler.submit(trace_job(tiny_model, "tiny", tuple(tokenizer.encode("First"))))
    while scheduler.waiting():
        time.sleep(0.01)
    late = scheduler.submit(trace_job(tiny_model, "other", tuple(tokenizer.encode("Late"))))
    places = []
    with pytest.raises(TimeoutError):
        wait_for(scheduler, late, timeout=0.5, on_wait=places.append)
    assert places and all(place >= 1 for place in places)
    assert scheduler.waiting() == 0 and late.cancelled
    gate.open.set()
    wait_for(scheduler, first, timeout=30)


def test_a_short_generation_and_a_long_one_get_cache_rows_of_their_own_size(tokenizer, scheduler, gate):
    model = build_model(replace(PRESETS["tiny"], context_length=256), seed=1)
    gate.open.clear()  # both wait, so they would be read together if nothing kept them apart
    short = generation_job(model, "tiny", tuple(tokenizer.encode("Hi")), max_new_tokens=4)
    long = generation_job(model, "tiny", tuple(range(100)), max_new_tokens=4)
    assert short.batch_key != long.batch_key
    for job in (short, long):
        scheduler.submit(job)
    gate.open.set()
    for job in (short, long):
        assert len([step for arrived in steps_of(scheduler, job) for step in arrived]) == 4
    assert gate.kinds.count("prefill") == 2
    assert (cache_capacity(6, 1024), cache_capacity(104, 1024), cache_capacity(900, 256)) == (64, 128, 256)


def test_a_trace_is_not_padded_to_a_long_one_in_the_same_batch():
    model = SimpleNamespace(cfg=GPTConfig.coerce(GPT_CONFIG_124M))  # all _fits reads of a model
    jobs = [TraceJob(model=model, model_id="m", token_ids=tuple(range(n))) for n in (1000, 20, 990)]
    assert not _fits(jobs[:2])  # 980 tokens of padding: some 470 MB that no reservation covers
    assert _fits([jobs[0], jobs[2]])  # 10 tokens of padding
    assert _fits([TraceJob(model=model, model_id="m", token_ids=tuple(range(n))) for n in (11, 12, 10) * 10])


def test_lens_readings_share_products_and_each_gets_its_own_lens(tiny_model, tokenizer, scheduler, gate):
    traces = [trace(tiny_model, tokenizer.encode(prompt)) for prompt in PROMPTS]
    gate.open.clear()
    blocker = scheduler.submit(trace_job(tiny_model, "tiny", tuple(tokenizer.encode("Blocking"))))
    while scheduler.waiting():  # until the thread has taken the blocker and waits for its turn
        time.sleep(0.01)
    jobs = [scheduler.submit(lens_job(tiny_model, "tiny", stream_rows(t), k=4)) for t in traces]
    gate.open.set()
    wait_for(scheduler, blocker, timeout=30)
    for t, job in zip(traces, jobs, strict=True):
        ids, probs = wait_for(scheduler, job, timeout=30)
        alone_ids, alone_probs = logit_lens(tiny_model, t, k=4)
        np.testing.assert_array_equal(ids, alone_ids)
        np.testing.assert_allclose(probs, alone_probs, rtol=1e-5)
    assert max(size for kind, size in scheduler.batch_sizes if kind == "lens") == len(PROMPTS)  # one product
    with pytest.raises(ValueError, match="rows"):
        lens_job(tiny_model, "tiny", stream_rows(traces[0])[..., :5], k=4)  # not this model's width


def test_a_long_reading_lets_generations_step_between_its_chunks(tiny_model, tokenizer, scheduler):
    long_trace = trace(tiny_model, list(range(60)))
    rows = np.concatenate([stream_rows(long_trace)] * 10, axis=1)  # (3, 600, d): 1,800 rows, several chunks
    generation = scheduler.submit(generation_job(tiny_model, "tiny", tuple(tokenizer.encode("Hi")), max_new_tokens=8))
    reading = scheduler.submit(lens_job(tiny_model, "tiny", rows, k=2))
    assert len([step for arrived in steps_of(scheduler, generation) for step in arrived]) == 8
    wait_for(scheduler, reading, timeout=60)
    kinds = [kind for kind, _ in scheduler.batch_sizes]
    first_lens, last_lens = kinds.index("lens"), len(kinds) - 1 - kinds[::-1].index("lens")
    assert "decode" in kinds[first_lens:last_lens]  # tokens came while the reading was under way


def test_a_reading_behind_a_long_one_waits_in_line_and_is_not_refused(tiny_model, tokenizer, scheduler):
    long_trace = trace(tiny_model, list(range(60)))
    long_rows = np.concatenate([stream_rows(long_trace)] * 200, axis=1)  # (3, 12,000, d): ~140 products
    short_trace = trace(tiny_model, tokenizer.encode("Every effort moves you"))
    first = scheduler.submit(lens_job(tiny_model, "tiny", long_rows, k=2))
    places: list[int] = []
    second = scheduler.submit(lens_job(tiny_model, "tiny", stream_rows(short_trace), k=3))
    ids, _ = wait_for(scheduler, second, timeout=0.01, on_wait=places.append)  # a bound it outlives in line
    assert first.done.is_set()  # the line is read front first
    assert max(places) >= 1  # its place was shown while it waited
    np.testing.assert_array_equal(ids, logit_lens(tiny_model, short_trace, k=3)[0])
