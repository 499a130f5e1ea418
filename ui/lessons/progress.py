"""Where a student's lesson progress is kept: in the class's database while they sit in a running
class (a reload or another app process finds it there, and the teacher's console shows it), and in
the session otherwise. Either way the session keeps it too, so nothing answered before joining is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from ..classroom.connection import class_store
from ..classroom.membership import my_seat
from ..classroom.store import Seat
from .format import Lesson

RESULTS_KEY = "lesson_results"  # plain session key: (lesson, step) -> Result
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    correct: bool | None  # None: a message about the answer (none given, not a number), not a grade
    why: str
    answer: str = ""  # the answer as the student saw it
    question: str = ""  # the question's text when it was answered


def seat_in_running_class() -> Seat | None:
    seat = my_seat()
    if seat is None or class_store().class_code(seat.class_id) is None:
        return None
    return seat


def results_of(lesson: Lesson) -> dict[int, Result]:
    """This student's graded answers to the lesson's questions as they stand, by step; the class's
    database has the last word."""
    session = st.session_state.get(RESULTS_KEY, {})
    results = {step: result for (slug, step), result in session.items() if slug == lesson.slug}
    seat = seat_in_running_class()
    if seat is not None:
        for step, kept in class_store().lessons.of_student(seat.student_id, lesson.slug).items():
            results[step] = Result(kept.correct, kept.why, kept.answer, kept.question)
    return {step: result for step, result in results.items() if lesson.asks(step, result.question)}


def keep(lesson: str, step: int, result: Result, model_id: str) -> bool:
    """Keep a graded result in the session, and in the class's database when in a class; False if the
    database could not take it (the session still has it)."""
    st.session_state.setdefault(RESULTS_KEY, {})[(lesson, step)] = result
    seat = seat_in_running_class()
    if seat is None:
        return True
    try:
        class_store().lessons.record(
            seat.student_id, lesson, step, result.question, result.answer, result.correct, result.why, model_id
        )
    except (RuntimeError, SQLAlchemyError):
        log.exception("a lesson answer could not be saved in the class's database")
        return False
    return True
