"""A class pressing Check together: how long until each student's page says whether they were right.

Students open the Lessons page from a link at one question, choose an answer, and all press Check
at the same moment (bench/class_client.py over websockets). For each student, the time from the
press to the verdict (the first payload carrying "Right." or "Not quite") and to the end of the
page's run. The default question is the shortcuts lesson's third step: its answer takes two backward
passes through GPT-2 124M, the heaviest of the shipped measures.

Every size runs on a fresh server, so the answer is computed cold, and one student alone is the
reference measured in the same run. The figures are medians over --repeats.

    .venv/bin/python -m bench.bench_lessons [--students 30] [--repeats 3] [--lesson 06-shortcuts --step 3]

Prints the figures and writes bench/results/lessons.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

from streamlit.proto.WidgetStates_pb2 import WidgetState

from bench.appserver import running_server
from bench.bench_classroom import summary
from bench.class_client import ClassClient
from ui.frame import URL_PATHS
from ui.lessons.catalog import DEFAULT_FOLDER
from ui.lessons.format import Question, read_lesson

RESULTS = Path(__file__).resolve().parent / "results"
VERDICTS = (b"Right.", b"Not quite")


def answer_state(student: ClassClient, key: str, question: Question) -> WidgetState:
    """The first option, or the number 1, as a browser sends it: a verdict either way is what is timed."""
    if question.kind == "choice":
        return WidgetState(id=student.widget(key), string_value=question.options[0])  # radios send the option's text
    if question.kind == "number":
        return WidgetState(id=student.widget(key), string_value="1")
    raise SystemExit("choose a step whose question is a choice or a number")


async def check_together(url: str, students: int, lesson: str, step: int, model_id: str) -> list[tuple]:
    """Each student's (seconds to the verdict, seconds to the page drawn) after pressing Check together."""
    query = urllib.parse.urlencode({"model": model_id, "lesson": lesson, "lesson_step": step})
    class_ = [ClassClient(url, query, timeout_s=600) for _ in range(students)]
    for student in class_:
        await student.__aenter__()
    try:
        await asyncio.gather(*(student.run("lessons") for student in class_))
        key = f"lesson_answer_{lesson}_{step - 1}"
        question = read_lesson(DEFAULT_FOLDER / f"{lesson}.md", set(URL_PATHS)).steps[step - 1].question
        pressed = time.perf_counter()

        async def press(student: ClassClient) -> tuple[float, float]:
            for marker in VERDICTS:
                student.watch(marker)
            widgets = [
                answer_state(student, key, question),
                WidgetState(id=student.widget("lesson_check"), trigger_value=True),
            ]
            await student.run("lessons", widgets)
            drawn = time.perf_counter() - pressed
            seen = [moment - pressed for moment in student.watched.values() if moment]
            return (min(seen) if seen else float("inf")), drawn

        return list(await asyncio.gather(*(press(student) for student in class_)))
    finally:
        for student in class_:
            await student.websocket.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lesson", default="06-shortcuts")
    parser.add_argument("--step", type=int, default=3, help="the step from 1, as the link counts")
    parser.add_argument("--model", default="book-124m-seed123")
    args = parser.parse_args()

    runs: dict[int, list[list[tuple]]] = {1: [], args.students: []}
    for _ in range(args.repeats):
        for size in runs:
            with (
                tempfile.TemporaryDirectory() as folder,
                running_server({"GPT_EXPLORER_CLASS_DB": f"{folder}/class.sqlite"}) as (url, _),
            ):  # a fresh server: the answer is computed cold
                runs[size].append(asyncio.run(check_together(url, size, args.lesson, args.step, args.model)))

    report = dict(vars(args))
    print(f"Pressing Check together on {args.lesson}, step {args.step}, {args.model}; medians of {args.repeats}")
    for size, repeats in runs.items():
        report[f"{size} students"] = entry = {}
        for moment, index in (("verdict", 0), ("page drawn", 1)):
            per_run = [summary([times[index] for times in run]) for run in repeats]
            entry[moment] = {name: statistics.median(s[name] for s in per_run) for name in per_run[0]}
            entry[moment]["p95 of each run"] = [s["p95_s"] for s in per_run]
        verdict = entry["verdict"]
        print(
            f"{size:3d} students: verdict median {verdict['median_s']:.2f} s, p95 {verdict['p95_s']:.2f} s "
            f"(each run {', '.join(f'{p:.2f}' for p in verdict['p95 of each run'])}), "
            f"page drawn p95 {entry['page drawn']['p95_s']:.2f} s"
        )
    ratio = report[f"{args.students} students"]["verdict"]["p95_s"] / report["1 students"]["verdict"]["p95_s"]
    report["p95 ratio"] = ratio
    print(f"p95 for {args.students} students / p95 for one: {ratio:.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lessons.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
