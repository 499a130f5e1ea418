"""The lessons this server offers: every file in lessons/ (or GPT_EXPLORER_LESSONS), read and checked.

A file with a mistake is left out with its message (file and line), and the others are offered;
files are read again when one changes, so a teacher can edit a lesson while the app runs.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..catalog import MODEL_CHOICES, find_choice
from ..frame import URL_PATHS
from .format import Lesson, LessonError, read_lesson
from .measures import check_measure, check_options

LESSONS_ENV = "GPT_EXPLORER_LESSONS"
MODEL_ADVICE = f"a step's model is one of {', '.join(MODEL_CHOICES)} or a saved checkpoint's name"
DEFAULT_FOLDER = Path(__file__).resolve().parent.parent.parent / "lessons"

_lock = threading.Lock()
_read: dict[tuple, tuple[list[Lesson], list[LessonError]]] = {}


def lessons_folder() -> Path:
    return Path(os.environ.get(LESSONS_ENV) or DEFAULT_FOLDER)


def load_lessons() -> tuple[list[Lesson], list[LessonError]]:
    """The folder's lessons in file-name order, and a LessonError for each file left out."""
    files = sorted(lessons_folder().glob("*.md"))
    stamp = tuple((path, path.stat().st_mtime_ns) for path in files)  # read again when a file changes
    with _lock:
        if stamp not in _read:
            _read.clear()
            _read[stamp] = _read_all(files)
        return _read[stamp]


def _read_all(files: list[Path]) -> tuple[list[Lesson], list[LessonError]]:
    lessons, problems = [], []
    for path in files:
        try:
            lesson = read_lesson(path, set(URL_PATHS))
            for step in lesson.steps:
                if "model" in step.view and find_choice(step.view["model"]) is None:
                    where = step.view_lines["model"]
                    raise LessonError(path, where, f"unknown model {step.view['model']!r}: {MODEL_ADVICE}")
                if step.question is not None:
                    answer = step.question.answer
                    problem = check_measure(answer) or check_options(answer, step.question.options)
                    if problem:
                        raise LessonError(path, answer.line, problem)
        except LessonError as error:
            problems.append(error)
        except (OSError, UnicodeDecodeError) as error:
            problems.append(LessonError(path, 1, f"cannot be read: {error}"))
        else:
            lessons.append(lesson)
    return lessons, problems
