"""A small class pastes long texts at once into a server with a low memory budget: it must hold.

Six websocket sessions (bench/bench_stress.py), each with its own ~1,000-token prompt, visit
Tokens, Attention, Residual stream, Generate and Experiments on the book's 124M model, in a server whose
budget (2.5 GB) holds the model and one or two long traces at a time, so pages wait for memory;
with the wait bound set to 5 s (GPT_EXPLORER_MEMORY_WAIT_S) some are refused. The server must
survive, every session must end with its pages or a clear message (no dropped connection, no
exception), its memory must stay within the budget + 10%, and no page may send the browser more than 5 MB.
"""

import datetime

from bench.bench_stress import run_stress
from ui.logs import LEVEL_ENV
from ui.turns import MEMORY_WAIT_ENV

BUDGET_BYTES = 2_500_000_000
PAGES = ["tokens", "attention", "residual", "generate", "experiments"]


def test_long_prompts_at_once_under_a_low_budget_get_their_pages_or_a_clear_message(tmp_path):
    report = run_stress(
        6,
        budget=str(BUDGET_BYTES),
        pages=PAGES,
        log_path=tmp_path / "server.log",
        env={MEMORY_WAIT_ENV: "5", LEVEL_ENV: "DEBUG"},
    )
    details = {s["word"]: s["pages"] for s in report["sessions_detail"]}
    assert report["survived"], (tmp_path / "server.log").read_text()[-3000:]
    assert report["prompt_tokens"] > 900
    assert report["failed"] == 0, details
    assert report["completed"] + report["clear_message"] == 6
    outcomes = [outcome for pages in details.values() for outcome in pages.values()]
    assert "message: memory" in outcomes, details  # the budget's path was taken, and said so
    assert "ok" in outcomes, details
    assert report["peak_rss_gb"] * 1e9 <= 1.1 * BUDGET_BYTES, around_the_peak(report, tmp_path / "server.log")
    assert report["largest_page_mb"] <= 5, report["largest_page_mb"]  # a long prompt's page stays within a few MB
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def around_the_peak(report: dict, log_path) -> str:
    """The peak and the budget's DEBUG lines from the seconds before it: what was granted, and to what."""
    peak_time, peak = max(report["rss_timeline"], key=lambda sample: sample[1])
    stamp = datetime.datetime.fromtimestamp(peak_time)
    near = [
        line
        for line in log_path.read_text().splitlines()
        if line[:19].replace(" ", "T") >= (stamp - datetime.timedelta(seconds=10)).isoformat()[:19]
        and line[:19].replace(" ", "T") <= stamp.isoformat()[:19]
    ]
    return f"peak {peak / 1e9:.2f} GB at {stamp:%H:%M:%S.%f}; the log before it:\n" + "\n".join(near[-40:])
