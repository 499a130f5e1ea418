"""Lesson progress in the class's database: each student's latest answer to each question, for the
student's own page after a reload and for the teacher's view of the class.

Like store.py, nothing here imports Streamlit, and each method is one short transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from .schema import lesson_answers, students

MAX_ANSWER_CHARS = 200


@dataclass(frozen=True)
class LessonAnswer:
    student: str
    lesson: str
    step: int
    question: str
    answer: str
    correct: bool
    why: str
    model_id: str
    tries: int


class LessonRecords:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def record(
        self,
        student_id: int,
        lesson: str,
        step: int,
        question: str,
        answer: str,
        correct: bool,
        why: str,
        model_id: str,
    ) -> None:
        """Keep the student's answer to one question; a new answer replaces the last and counts a try."""
        values = {
            "question": question,
            "answer": answer[:MAX_ANSWER_CHARS],
            "correct": correct,
            "why": why,
            "model_id": model_id,
        }
        this_question = and_(
            lesson_answers.c.student_id == student_id, lesson_answers.c.lesson == lesson, lesson_answers.c.step == step
        )
        for _ in range(2):  # a first answer can race another tab's first answer: the loser updates
            try:
                with self.engine.begin() as db:
                    changed = db.execute(
                        update(lesson_answers)
                        .where(this_question)
                        .values(**values, tries=lesson_answers.c.tries + 1, answered_at=self.clock())
                    ).rowcount
                    if not changed:
                        db.execute(
                            insert(lesson_answers).values(
                                student_id=student_id, lesson=lesson, step=step, tries=1, answered_at=self.clock(),
                                **values,
                            )
                        )  # fmt: skip
                return
            except IntegrityError:  # rolled back; the other tab's row is there now
                continue
        raise RuntimeError("the answer could not be saved; try again")

    def of_student(self, student_id: int, lesson: str) -> dict[int, LessonAnswer]:
        """The student's answers to one lesson, by step."""
        return {
            answer.step: answer
            for answer in self._select(
                and_(lesson_answers.c.student_id == student_id, lesson_answers.c.lesson == lesson)
            )
        }

    def of_class(self, class_id: int) -> list[LessonAnswer]:
        """Every answer of the class's students, by student name, lesson and step."""
        return self._select(students.c.class_id == class_id)

    def _select(self, condition) -> list[LessonAnswer]:
        query = (
            select(students.c.name, lesson_answers)
            .join(students, students.c.id == lesson_answers.c.student_id)
            .where(condition)
            .order_by(students.c.name, lesson_answers.c.lesson, lesson_answers.c.step)
        )
        with self.engine.connect() as db:
            return [
                LessonAnswer(
                    row.name,
                    row.lesson,
                    row.step,
                    row.question,
                    row.answer,
                    bool(row.correct),
                    row.why,
                    row.model_id,
                    row.tries,
                )
                for row in db.execute(query)
            ]
