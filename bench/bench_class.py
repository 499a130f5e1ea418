"""A whole class at once: N students on one server, each with their own prompt, all at the same time.

Each simulated student is a real Streamlit client speaking the app's websocket protocol
(/_stcore/stream: BackMsg protobufs up, ForwardMsg protobufs down), as a browser tab does:
it opens the Attention page with its prompt in the link (the prompt's trace), switches to
Generate and presses the button (20 greedy tokens, the page's default). The bench checks that
every session finished, that each got its own prompt's text and exactly the tokens the model
writes for that prompt, and that nothing of another student's prompt reached it; it measures
each session's latency and the server's resident memory (VmRSS) per session.

    .venv/bin/python -m bench.bench_class [--sizes 1 10 30]

Prints a table and writes bench/results/class.json.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import html
import json
import re
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.appserver import resident_bytes, running_server

RESULTS = Path(__file__).resolve().parent / "results"
NEW_TOKENS = 20  # the Generate page's default "New tokens"
WAITING_TEXT = b"Waiting for your turn"
# One word per student, each a single GPT-2 token after a space, so the Attention page labels it
# "␣word" as one token; a student's word turning up in another student's messages means a mix-up.
# fmt: off
WORDS = [
    "tiger", "rabbit", "turtle", "eagle", "camel", "donkey", "monkey", "spider", "lizard", "salmon",
    "pigeon", "buffalo", "lobster", "mosquito", "horse", "sheep", "snake", "whale", "shark", "chicken",
    "dragon", "squirrel", "elephant", "dolphin", "gorilla", "banana", "cherry", "lemon", "potato", "tomato",
    "carrot", "onion", "garlic", "pepper", "violin", "guitar", "piano", "trumpet", "rocket", "planet",
    "comet", "volcano", "glacier", "castle", "bicycle",
]
# fmt: on


def class_prompts(count: int, first: int = 0) -> list[str]:
    """Distinct prompts, one per student; ``first`` skips words already used by an earlier round."""
    if first + count > len(WORDS):
        raise ValueError(f"at most {len(WORDS)} distinct students in one run, asked for {first + count}")
    return [f"Student {first + i} asks the model about the {WORDS[first + i]}" for i in range(count)]


def marker(prompt: str) -> str:
    return prompt.split()[-1]  # the student's word


# --- what the app should answer -------------------------------------------------------------


def expected_generations(prompts: Sequence[str], model_id: str) -> dict[str, str]:
    """The text the default model writes after each prompt: the Generate page's code path and
    settings (greedy, 20 tokens), run here in the bench's own process with the app's thread count."""
    from ui import find_choice  # first: ui sets the app's OpenMP wait policy and thread count before torch loads

    # isort: split
    import torch

    from gptcore import generate_steps, get_tokenizer
    from gptcore.generation import split_generated_text

    model = find_choice(model_id).build()
    tokenizer = get_tokenizer()
    expected = {}
    for prompt in prompts:
        ids = tokenizer.encode(prompt)
        steps = generate_steps(model, torch.tensor([ids]), NEW_TOKENS, context_size=model.cfg.context_length)
        expected[prompt] = split_generated_text([], [step.token_id for step in steps])[1]
    return expected


# --- one student: a Streamlit websocket client -----------------------------------------------


def shows_token(word: str, payload: bytes) -> bool:
    """Whether the token " word" appears as the pages label it: "␣word", raw in text and tables
    or JSON-escaped in a plotly chart's spec."""
    return f"\u2423{word}".encode() in payload or f"\\u2423{word}".encode() in payload


class SessionError(RuntimeError):
    pass


class StreamlitClient:
    """A minimal browser stand-in: sends rerun requests, reads ForwardMsgs until the run ends.

    Every payload is kept as bytes: the protobufs carry text, plotly specs and Arrow tables as
    raw UTF-8, so a byte search finds a prompt's words or generated text wherever they appear.
    """

    def __init__(
        self, base_url: str, query_string: str, timeout_s: float, headers: dict[str, str] | None = None
    ) -> None:
        self.ws_url = base_url.replace("http", "ws", 1) + "/_stcore/stream"
        self.query_string = query_string
        self.timeout_s = timeout_s
        self.headers = headers or {}  # e.g. a browser's Origin and cookies, through a proxy
        self.payloads: list[bytes] = []
        self.widget_ids: list[str] = []
        self.websocket = None

    async def __aenter__(self) -> StreamlitClient:
        # "streamlit" is the subprotocol the frontend asks for; no XSRF token: it guards only auth cookies.
        self.websocket = await connect(
            self.ws_url,
            subprotocols=["streamlit"],
            additional_headers=self.headers,
            max_size=None,
            open_timeout=60,
            ping_interval=None,
        )
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.websocket.close()

    async def run(self, page_name: str, widgets: Sequence[WidgetState] = ()) -> list[bytes]:
        """One script run of ``page_name`` (its url path); the payloads it sent, once it finished."""
        state = ClientState(
            query_string=self.query_string,
            page_name=page_name,  # the page's url path, as the frontend sends on a first visit
            widget_states=WidgetStates(widgets=list(widgets)),
        )
        await self.websocket.send(BackMsg(rerun_script=state).SerializeToString())
        received = await self.read_run(f"the {page_name or 'start'} page")
        self.payloads += received
        return received

    async def read_run(self, what: str, done: Sequence[int] = (ForwardMsg.FINISHED_SUCCESSFULLY,)) -> list[bytes]:
        """The payloads of one run, up to a script_finished with a status in ``done``; notes widget ids."""
        received: list[bytes] = []
        deadline = time.monotonic() + self.timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionError(f"{what} did not finish within {self.timeout_s:.0f} s")
            payload = await asyncio.wait_for(self.websocket.recv(), remaining)
            received.append(payload)
            self.arrived(payload)
            msg = ForwardMsg.FromString(payload)
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "exception":
                    raise SessionError(f"the page raised {element.exception.type}: {element.exception.message}")
                widget_id = getattr(getattr(element, element.WhichOneof("type") or "", None), "id", "")
                if isinstance(widget_id, str) and widget_id:
                    self.widget_ids.append(widget_id)
            elif kind == "script_finished":
                if msg.script_finished in done:
                    return received
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise SessionError("the app failed to compile")
                # FINISHED_EARLY_FOR_RERUN: st.rerun() (the first visit's frame check); the next run follows

    def arrived(self, payload: bytes) -> None:
        """Called as each payload arrives, before the run ends (a browser draws it then)."""

    async def click(self, page_name: str, key: str) -> list[bytes]:
        """Press the button with ``key`` (its widget id ends with the key), as the frontend does."""
        matches = [widget_id for widget_id in self.widget_ids if widget_id.endswith(key)]
        if not matches:
            raise SessionError(f"no widget with key {key!r} on the {page_name} page")
        return await self.run(page_name, [WidgetState(id=matches[-1], trigger_value=True)])


@dataclass
class Session:
    """One student's visit and what the bench found in it."""

    prompt: str
    expected: str
    trace_s: float = 0.0
    generate_s: float = 0.0
    total_s: float = 0.0
    saw_waiting: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def student(
    base_url: str, session: Session, others: Sequence[str], timeout_s: float, model_id: str | None = None
) -> StreamlitClient:
    """Trace on the Attention page, then 20 tokens on Generate; checks what came back. The
    connection stays open (returned) so the server still holds the session when memory is read."""
    query = urllib.parse.urlencode({"prompt": session.prompt, **({"model": model_id} if model_id else {})})
    client = StreamlitClient(base_url, query, timeout_s)
    start = time.perf_counter()
    try:
        await client.__aenter__()
        traced = await client.run("attention")
        session.trace_s = time.perf_counter() - start
        await client.run("generate")
        clicked = time.perf_counter()
        generated = await client.click("generate", "generate_button")
        session.generate_s = time.perf_counter() - clicked
        session.total_s = time.perf_counter() - start
    except (SessionError, OSError, TimeoutError, ConnectionClosed) as error:
        session.problems.append(f"did not complete: {error}")
        return client
    word = marker(session.prompt)
    if not any(shows_token(word, payload) for payload in traced):
        session.problems.append(f"the Attention page never showed the token ' {word}'")
    answer = html.escape(session.expected).encode()
    if not any(answer in payload and html.escape(session.prompt).encode() in payload for payload in generated):
        session.problems.append(f"the generated text is not the expected {session.expected!r}")
    everything = b"".join(client.payloads)
    for other in others:
        # Whole prompts only: single words can turn up legitimately among the candidate tokens the
        # Generate page lists at each step. Plain text, html-escaped, or in a link's query string.
        forms = {other, html.escape(other), urllib.parse.urlencode({"prompt": other})}
        if any(form.encode() in everything for form in forms):
            session.problems.append(f"received another student's prompt: {other!r}")
    foreign_labels = [marker(other) for other in others if shows_token(marker(other), b"".join(traced))]
    if foreign_labels:  # the Attention page labels only the prompt's own tokens
        session.problems.append(f"the Attention page showed other students' tokens: {foreign_labels}")
    session.saw_waiting = WAITING_TEXT in everything
    client.payloads.clear()  # checked; the bench need not hold every chart in memory
    return client


async def run_class(
    base_url: str,
    prompts: Sequence[str],
    expected: dict[str, str],
    everyone: Sequence[str],
    pid: int | None = None,
    model_id: str | None = None,
    timeout_s: float = 600.0,
) -> dict:
    """All ``prompts`` at once; latency percentiles, problems, and memory per session when the
    server's ``pid`` is given. ``model_id`` goes in each student's link (the app's default if None)."""
    sessions = [Session(prompt, expected[prompt]) for prompt in prompts]
    rss_before = resident_bytes(pid) if pid else 0
    started = time.perf_counter()
    clients = await asyncio.gather(
        *(student(base_url, s, [p for p in everyone if p != s.prompt], timeout_s, model_id) for s in sessions)
    )
    wall_s = time.perf_counter() - started
    rss_after = resident_bytes(pid) if pid else 0  # every session still connected and holding its results
    for client in clients:
        if client.websocket is not None:
            await client.websocket.close()
    totals = sorted(s.total_s for s in sessions if s.ok)
    return {
        "students": len(sessions),
        "completed": sum(s.ok for s in sessions),
        "saw_waiting_message": sum(s.saw_waiting for s in sessions),
        "p50_s": percentile(totals, 50),
        "p95_s": percentile(totals, 95),
        "trace_p50_s": percentile(sorted(s.trace_s for s in sessions if s.ok), 50),
        "generate_p50_s": percentile(sorted(s.generate_s for s in sessions if s.ok), 50),
        "wall_s": wall_s,
        "rss_before_mb": rss_before / 1e6,
        "rss_after_mb": rss_after / 1e6,
        "rss_growth_per_session_mb": (rss_after - rss_before) / 1e6 / len(sessions),
        "problems": {s.prompt: s.problems for s in sessions if s.problems},
        "sessions": [asdict(s) for s in sessions],
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (what a student at that rank waited); NaN when there are none."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n q / 100)
    return sorted_values[int(rank) - 1]


BATCH_LINE = re.compile(r"scheduler (trace|decode) batches \(size: count\) (\{[^}]*\})")


def batch_sizes(log_text: str) -> dict[str, dict[int, int]]:
    """The scheduler's logged batch sizes: {"trace": {size: count}, "decode": {size: count}}."""
    sizes: dict[str, Counter] = {"trace": Counter(), "decode": Counter()}
    for kind, counts in BATCH_LINE.findall(log_text):
        sizes[kind].update(ast.literal_eval(counts))
    return {kind: dict(sorted(counter.items())) for kind, counter in sizes.items()}


def run_rounds(sizes: Sequence[int], model_id: str | None = None, log_path: Path | None = None) -> dict:
    """A warm-up student (loads the model), then one round per class size, all on one server."""
    from ui import DEFAULT_MODEL_ID

    prompts = class_prompts(1 + sum(sizes))
    expected = expected_generations(prompts, model_id or DEFAULT_MODEL_ID)
    rounds = []
    log_path = log_path or Path(tempfile.mkdtemp()) / "server.log"  # the batch sizes are read from it
    with running_server(log_path=log_path) as (url, server):
        warm = asyncio.run(run_class(url, prompts[:1], expected, prompts, server.pid, model_id))
        if warm["completed"] != 1:
            raise RuntimeError(f"the warm-up session failed: {warm['problems']}")
        first = 1
        for size in sizes:
            batch = prompts[first : first + size]
            logged = log_path.stat().st_size
            result = asyncio.run(run_class(url, batch, expected, prompts, server.pid, model_id))
            time.sleep(0.5)  # the scheduler logs its sizes once it falls idle
            with log_path.open() as log:
                log.seek(logged)
                result["batch_sizes"] = batch_sizes(log.read())
            result["tokens_per_s"] = result["completed"] * NEW_TOKENS / result["wall_s"]
            rounds.append(result)
            first += size
        rss_end = resident_bytes(server.pid)
    return {
        "model": model_id or DEFAULT_MODEL_ID,
        "warm_up": {k: warm[k] for k in ("p50_s", "rss_before_mb", "rss_after_mb")},
        "rounds": rounds,
        "rss_end_mb": rss_end / 1e6,
        "rss_growth_per_session_all_rounds_mb": (rss_end / 1e6 - warm["rss_after_mb"]) / sum(sizes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 30], help="class sizes, run in turn")
    parser.add_argument("--model", help="model id for every student (default: the app's, the book's untrained 124M)")
    parser.add_argument("--log", type=Path, help="write the server's output here")
    args = parser.parse_args()
    report = run_rounds(args.sizes, args.model, args.log)
    print(f"Model {report['model']}; each student: Attention page (a trace) + {NEW_TOKENS} generated tokens")
    print(
        " students  completed  waited   p50 (s)  p95 (s)  trace p50  generate p50  wall (s)  tokens/s  RSS MB/session"
    )
    for r in report["rounds"]:
        print(
            f"{r['students']:9d}  {r['completed']:9d}  {r['saw_waiting_message']:6d}  {r['p50_s']:8.2f} "
            f"{r['p95_s']:8.2f}  {r['trace_p50_s']:9.2f}  {r['generate_p50_s']:12.2f}  {r['wall_s']:8.1f}  "
            f"{r['tokens_per_s']:8.1f}  {r['rss_growth_per_session_mb']:14.2f}"
        )
    for r in report["rounds"]:
        print(f"{r['students']} students, batch sizes (size: count): {r['batch_sizes']}")
    print(
        f"server RSS: {report['warm_up']['rss_after_mb']:.0f} MB after the warm-up student, "
        f"{report['rss_end_mb']:.0f} MB at the end "
        f"({report['rss_growth_per_session_all_rounds_mb']:.2f} MB per student over all rounds)"
    )
    for r in report["rounds"]:
        for prompt, problems in r["problems"].items():
            print(f"PROBLEM {prompt!r}: {'; '.join(problems)}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "class.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
