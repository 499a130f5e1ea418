"""The class's lesson progress as tables for the teacher's console: who answered what, and how the
class answered each question."""

from __future__ import annotations

import pandas as pd

from ..classroom.lesson_records import LessonAnswer
from .format import Lesson


def question_steps(lesson: Lesson) -> list[int]:
    return [index for index, step in enumerate(lesson.steps) if step.question is not None]


def answers_to(answers: list[LessonAnswer], lesson: Lesson) -> list[LessonAnswer]:
    """The answers to the lesson's questions as they stand now (not to a question since edited away)."""
    return [answer for answer in answers if answer.lesson == lesson.slug and lesson.asks(answer.step, answer.question)]


def progress_table(answers: list[LessonAnswer], lesson: Lesson) -> pd.DataFrame:
    """One row per student who answered in this lesson: each question's latest answer, ✓ or ✗, and the count right."""
    steps = question_steps(lesson)
    columns = [f"Q{number}" for number in range(1, len(steps) + 1)]
    rows: dict[str, dict[str, str]] = {}
    for answer in answers_to(answers, lesson):
        row = rows.setdefault(answer.student, {"student": answer.student} | dict.fromkeys(columns, ""))
        tries = f" ({answer.tries} tries)" if answer.tries > 1 else ""
        row[columns[steps.index(answer.step)]] = f"{'✓' if answer.correct else '✗'} {answer.answer}{tries}"
    table = pd.DataFrame(list(rows.values()), columns=["student", *columns])
    right = [sum(row[column].startswith("✓") for column in columns) for row in rows.values()]
    table["right"] = [f"{count} of {len(steps)}" for count in right]
    return table


def answer_counts(answers: list[LessonAnswer], lesson: Lesson, step: int) -> pd.DataFrame:
    """The class's latest answers to one question: each distinct answer, how many gave it, and whether it was right.

    The same answer can be right for one student and wrong for another when they use different models.
    """
    given = [answer for answer in answers_to(answers, lesson) if answer.step == step]
    frame = pd.DataFrame({"answer": [a.answer for a in given], "right": [a.correct for a in given]})
    counts = frame.groupby(["answer", "right"]).size().rename("students").reset_index()
    counts["right"] = counts["right"].map({True: "✓", False: "✗"})
    return counts.sort_values("students", ascending=False, kind="stable")[["answer", "students", "right"]]


def answers_csv_rows(answers: list[LessonAnswer], lessons: dict[str, Lesson]) -> list[dict]:
    """Every answer as a CSV row, its question numbered as the console numbers it (Q1 is the first question)."""
    rows = []
    for a in answers:
        lesson = lessons.get(a.lesson)
        steps = question_steps(lesson) if lesson else []
        rows.append(
            {
                "student": a.student,
                "lesson": a.lesson,
                "question": f"Q{steps.index(a.step) + 1}" if a.step in steps else f"step {a.step + 1}",
                "question text": lesson.steps[a.step].question.text if a.step in steps else "",
                "answer": a.answer,
                "correct": a.correct,
                "tries": a.tries,
                "model": a.model_id,
                "why": a.why,
            }
        )
    return rows
