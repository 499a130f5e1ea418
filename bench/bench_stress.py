"""A class pastes long texts at once: N sessions, each with its own ~1,000-token prompt, all at the same time.

Each simulated student is the bench_class websocket client. It pastes its own long text into the
sidebar's prompt box, then visits Tokens, Attention, LayerNorm, Feed-forward, Residual stream,
Generate (and presses Generate: 20 greedy tokens) and Experiments, as a student would. For every page it records
whether the page arrived whole, ended with a clear message (waiting too long for memory or for the
model, a prompt too long for the budget), or failed (an exception on the page, a dropped
connection, no answer in time). It samples the server's resident memory as it goes.

    .venv/bin/python -m bench.bench_stress [--sessions 30] [--budget 16GB] [--tokens 1000]

Prints the outcome and writes bench/results/stress.json. tests/test_stress.py runs a small version
with a low budget in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.exceptions import ConnectionClosed

from bench.appserver import resident_bytes, running_server
from bench.bench_class import (
    WORDS,
    SessionError,
    StreamlitClient,
    expected_generations,
    percentile,
    shows_token,
)

RESULTS = Path(__file__).resolve().parent / "results"
PAGES = ["tokens", "attention", "layernorm", "feedforward", "residual", "generate", "experiments"]
NEW_TOKENS = 20  # the Generate page's default
# What the app says when it cannot serve a page now: out of memory budget, or too long a queue.
# The clear messages a page may end with, and the kind of each, reported as "message: <kind>"
CLEAR_MESSAGES = {b"needs about": "memory", b"The server is busy": "busy", b"try again": "try again"}
# fmt: off
FILLER = [
    "the", "a", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "as", "by", "at", "from",
    "it", "his", "her", "they", "we", "river", "bridge", "town", "market", "school", "garden", "winter",
    "summer", "morning", "evening", "window", "letter", "story", "journey", "mountain", "valley",
]
# fmt: on


def long_prompt(student: int, n_words: int) -> str:
    """A distinct pasted text for one student: seeded filler, ending with the student's own word."""
    rng = random.Random(student)
    words = [rng.choice(FILLER) for _ in range(n_words)]
    return f"Student {student} writes: " + " ".join(words) + f" and then the {WORDS[student % len(WORDS)]}"


@dataclass
class StressSession:
    prompt: str
    word: str
    expected: str | None  # the text Generate should write; None: not checked
    pages: dict[str, str] = field(default_factory=dict)  # page -> "ok", "message: kind" or "failed: why"
    page_bytes: dict[str, int] = field(default_factory=dict)  # page -> bytes of the messages the browser got
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        results = list(self.pages.values())
        if any(result.startswith("failed") for result in results):
            return "failed"
        return "completed" if all(result == "ok" for result in results) else "message"


def page_outcome(page: str, payloads: list[bytes], session: StressSession) -> str:
    everything = b"".join(payloads)
    for message, kind in CLEAR_MESSAGES.items():
        if message in everything:
            return f"message: {kind}"
    if page == "attention" and not shows_token(session.word, everything):
        return "failed: the Attention page did not show the student's own last token"
    if page == "generate" and session.expected is not None and html.escape(session.expected).encode() not in everything:
        return "failed: Generate did not write the expected text"
    if page == "experiments" and b"Run the scan" not in everything:
        return "failed: Experiments did not offer a long prompt's scan behind its button"
    return "ok"


async def stress_student(
    base_url: str, session: StressSession, pages: Sequence[str], timeout_s: float, query: str
) -> None:
    client = StreamlitClient(base_url, query, timeout_s)
    start = time.perf_counter()
    try:
        await client.__aenter__()
        await client.run(pages[0])  # the first visit draws the sidebar, with the prompt box to paste into
        box = next(widget for widget in reversed(client.widget_ids) if widget.endswith("_prompt_box"))
        pasted = [WidgetState(id=box, string_value=session.prompt)]
        for page in pages:
            payloads = await client.run(page, pasted)
            if page == "generate":
                session.page_bytes[page] = sum(map(len, payloads))
                payloads = await client.click(page, "generate_button")
            session.page_bytes[page] = session.page_bytes.get(page, 0) + sum(map(len, payloads))
            session.pages[page] = page_outcome(page, payloads, session)
            client.payloads.clear()
    except (SessionError, OSError, TimeoutError, ConnectionClosed, StopIteration) as error:
        session.pages[pages[len(session.pages)] if len(session.pages) < len(pages) else "end"] = f"failed: {error}"
    finally:
        session.seconds = time.perf_counter() - start
        if client.websocket is not None:
            await client.websocket.close()


class MemorySampler:
    """Samples a process's resident memory every ``every_s`` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, every_s: float = 0.25) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak = 0
        self.timeline: list[tuple[float, int]] = []  # (Unix time, bytes): to line up with the server's log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                resident = resident_bytes(self.pid)
                self.peak = max(self.peak, resident)
                self.timeline.append((time.time(), resident))
            except (OSError, RuntimeError):  # the process is gone
                return
            self._stop.wait(self.every_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def run_stress(
    sessions: int,
    budget: str | None = None,
    n_words: int = 990,
    pages: Sequence[str] = PAGES,
    check_generation: bool = True,
    timeout_s: float = 900.0,
    model_id: str | None = None,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict:
    """Start a server (with ``budget`` as GPT_EXPLORER_MEMORY_BUDGET when given, and ``env``) and send it the class."""
    from ui import DEFAULT_MODEL_ID

    prompts = [long_prompt(i, n_words) for i in range(sessions)]
    expected = expected_generations(prompts, model_id or DEFAULT_MODEL_ID) if check_generation else {}
    students = [StressSession(p, WORDS[i % len(WORDS)], expected.get(p)) for i, p in enumerate(prompts)]
    from ui.memory import BUDGET_ENV, budget_limit, parse_size

    limit = parse_size(budget) if budget else budget_limit()  # what the server will work out for itself
    query = urllib.parse.urlencode({"model": model_id}) if model_id else ""
    with (
        running_server(env={BUDGET_ENV: str(limit), **(env or {})}, log_path=log_path) as (url, server),
        MemorySampler(server.pid) as sampler,
    ):
        started = time.perf_counter()

        async def everyone() -> None:
            await asyncio.gather(*(stress_student(url, s, pages, timeout_s, query) for s in students))

        asyncio.run(everyone())
        wall_s = time.perf_counter() - started
        survived = server.poll() is None
        rss_end = resident_bytes(server.pid) if survived else 0
    outcomes = [s.outcome for s in students]
    done = sorted(s.seconds for s in students if s.outcome == "completed")
    return {
        "sessions": sessions,
        "budget_gb": limit / 1e9,
        "prompt_tokens": _token_count(prompts[0]),
        "pages": list(pages),
        "completed": outcomes.count("completed"),
        "clear_message": outcomes.count("message"),
        "failed": outcomes.count("failed"),
        "p50_s": percentile(done, 50),
        "p95_s": percentile(done, 95),
        "wall_s": wall_s,
        "largest_page_mb": max((n for s in students for n in s.page_bytes.values()), default=0) / 1e6,
        "peak_rss_gb": sampler.peak / 1e9,
        "rss_timeline": sampler.timeline,
        "peak_within_budget_plus_10_percent": sampler.peak <= 1.1 * limit,
        "rss_end_gb": rss_end / 1e9,
        "survived": survived,
        "messages": dict(Counter(result for s in students for result in s.pages.values() if result != "ok")),
        "sessions_detail": [asdict(s) | {"outcome": s.outcome} for s in students],
    }


def _token_count(text: str) -> int:
    from gptcore import get_tokenizer

    return len(get_tokenizer().encode(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--budget", help="GPT_EXPLORER_MEMORY_BUDGET for the server, e.g. 6GB (default: its own)")
    parser.add_argument("--words", type=int, default=990, help="words per prompt (990 is about 1,000 tokens)")
    parser.add_argument("--log", type=Path, help="write the server's output here")
    args = parser.parse_args()
    report = run_stress(args.sessions, args.budget, args.words, log_path=args.log)
    print(
        f"{report['sessions']} sessions of {report['prompt_tokens']} tokens, budget {report['budget_gb']:.2f} GB: "
        f"{report['completed']} got every page, {report['clear_message']} got a clear message, "
        f"{report['failed']} failed; p50 {report['p50_s']:.1f} s, p95 {report['p95_s']:.1f} s, "
        f"wall {report['wall_s']:.0f} s; peak RSS {report['peak_rss_gb']:.2f} GB "
        f"({report['peak_rss_gb'] / report['budget_gb']:.0%} of the budget); "
        f"largest page sent {report['largest_page_mb']:.1f} MB; "
        f"server {'survived' if report['survived'] else 'DIED'}"
    )
    print(f"  page outcomes other than ok: {report['messages']}")
    for s in report["sessions_detail"]:
        if s["outcome"] != "completed":
            print(f"  {s['word']}: {s['pages']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stress.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
