"""A small class on a real server: every student finishes and sees only their own prompt's results.

bench/bench_class.py at N=3 on the tiny model, over real websockets (the load test itself runs
the 124M model at N = 1, 10 and 30).
"""

from __future__ import annotations

import asyncio

import pytest

from bench.appserver import running_server
from bench.bench_class import class_prompts, expected_generations, run_class

MODEL_ID = "tiny-seed123"


@pytest.fixture(scope="module")
def server():
    with running_server() as (url, process):
        yield url, process


def test_three_students_at_once_each_get_their_own_results(server):
    url, process = server
    prompts = class_prompts(4)
    expected = expected_generations(prompts, MODEL_ID)
    assert len(set(expected.values())) == 4  # distinct answers, so a mix-up would show
    # The fourth student is told to expect the first one's text: the bench must notice.
    expected_wrong = {**expected, prompts[3]: expected[prompts[0]]}
    report = asyncio.run(run_class(url, prompts, expected_wrong, prompts, process.pid, MODEL_ID, timeout_s=120))

    assert report["completed"] == 3, report["problems"]
    assert list(report["problems"]) == [prompts[3]]
    assert any("not the expected" in problem for problem in report["problems"][prompts[3]])
    for session in report["sessions"][:3]:
        assert session["total_s"] > session["trace_s"] > 0
    assert report["rss_after_mb"] > 0
