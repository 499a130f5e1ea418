"""Lesson files: Markdown a teacher can write without code, read into steps and questions.

    ---
    title: Attention and the causal mask
    chapter: sections 3.4 and 3.5
    ---

    ## The last token looks back
    page: attention
    prompt: Every effort moves you
    layer: 0
    head: 3

    Each row of the weights heatmap is one token spreading its attention over the tokens
    before it; the grey cells are the future, which the causal mask hides.

    ? Which earlier token does the last token attend to most in this head?
    kind: token
    answer: strongest_key(layer=0, head=3)

Every ``## `` heading starts a step. The ``key: value`` lines right under it set the step's view
(page, prompt, model, layer, head, step); the Markdown after them is the step's text. A line
starting with ``? `` asks the step's question, which may wrap onto the next lines; the ``key: value``
lines after it say how it is answered: ``kind`` (token, choice or number), ``answer`` (a measure of
the live model, see measures/), ``options`` (choice: separated by ``|``), ``tolerance`` (number:
``0.05`` or ``5%``).

A mistake raises LessonError naming the file and line.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

VIEW_KEYS = ("page", "prompt", "model", "layer", "head", "step")
QUESTION_KINDS = ("token", "choice", "number")
_KEY_VALUE = re.compile(r"^([a-z_]+):\s*(.*)$")
_MEASURE = re.compile(r"^([a-z_][a-z0-9_]*)\((.*)\)$")


class LessonError(ValueError):
    """A mistake in a lesson file, with where it is."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        super().__init__(f"{Path(path).name}, line {line}: {message}")
        self.path, self.line, self.message = Path(path), line, message


@dataclass(frozen=True)
class Measure:
    """An answer to compute from the live model: a measure's name and its keyword arguments."""

    name: str
    arguments: dict[str, object]
    line: int

    @property
    def call(self) -> str:
        """As a lesson file writes it: 'strongest_key(layer=0, head=3)'."""
        return f"{self.name}({', '.join(f'{name}={value!r}' for name, value in self.arguments.items())})"


@dataclass(frozen=True)
class Question:
    text: str
    kind: str
    answer: Measure
    options: tuple[str, ...] = ()
    tolerance: float = 0.0
    relative: bool = False  # tolerance as a share of the answer
    line: int = 0


@dataclass
class Step:
    title: str
    line: int
    view: dict[str, str] = field(default_factory=dict)
    view_lines: dict[str, int] = field(default_factory=dict)  # the line each view setting is on
    text: str = ""
    question: Question | None = None


@dataclass
class Lesson:
    path: Path
    title: str
    chapter: str
    steps: list[Step]

    @property
    def slug(self) -> str:
        return self.path.stem

    def asks(self, step: int, question: str) -> bool:
        """Whether step ``step`` still asks ``question``: an answer saved before the file was edited
        (a step inserted, a question reworded) is not counted against a different question."""
        return 0 <= step < len(self.steps) and getattr(self.steps[step].question, "text", None) == question


def read_lesson(path: Path | str, pages: set[str]) -> Lesson:
    """The lesson in ``path``; ``pages`` are the url paths a step may name ("" is Start here)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    front, first_body_line = _front_matter(path, lines)
    if "title" not in front:
        raise LessonError(path, 1, "the front matter needs a title: line")
    steps: list[Step] = []
    number = first_body_line
    while number < len(lines):
        line = lines[number]
        if line.startswith("## "):
            number = _read_step(path, lines, number, steps, pages)
            continue
        if line.strip() and not steps:
            raise LessonError(path, number + 1, "text before the first step: start each step with a '## ' heading")
        number += 1
    if not steps:
        raise LessonError(path, len(lines) or 1, "the lesson has no steps: start each with a '## ' heading")
    return Lesson(path, front["title"], front.get("chapter", ""), steps)


def _front_matter(path: Path, lines: list[str]) -> tuple[dict[str, str], int]:
    if not lines or lines[0].strip() != "---":
        raise LessonError(path, 1, "a lesson starts with front matter between '---' lines (title: ...)")
    front: dict[str, str] = {}
    for number in range(1, len(lines)):
        if lines[number].strip() == "---":
            return front, number + 1
        found = _KEY_VALUE.match(lines[number].strip())
        if found is None:
            raise LessonError(path, number + 1, f"expected 'key: value' in the front matter, found {lines[number]!r}")
        front[found[1]] = found[2].strip()
    raise LessonError(path, len(lines), "the front matter has no closing '---' line")


def _read_step(path: Path, lines: list[str], start: int, steps: list[Step], pages: set[str]) -> int:
    """Read the step whose heading is lines[start]; returns the index of the line after it."""
    step = Step(title=lines[start][3:].strip(), line=start + 1)
    number = start + 1
    while number < len(lines) and (found := _KEY_VALUE.match(lines[number].strip())):  # the view
        key, value = found[1], found[2].strip()
        if key not in VIEW_KEYS:
            raise LessonError(path, number + 1, f"unknown setting {key!r}: a step's view takes {', '.join(VIEW_KEYS)}")
        step.view[key] = value
        step.view_lines[key] = number + 1
        number += 1
    if "page" in step.view and step.view["page"] not in pages:
        known = ", ".join(sorted(page or "(Start here: empty)" for page in pages))
        raise LessonError(path, step.view_lines["page"], f"unknown page {step.view['page']!r}; the pages are {known}")
    for key in ("layer", "head", "step"):
        if key in step.view and not step.view[key].isdecimal():
            raise LessonError(path, step.view_lines[key], f"{key} must be a whole number, not {step.view[key]!r}")
    text: list[str] = []
    while number < len(lines) and not lines[number].startswith("## "):
        if lines[number].startswith("? "):
            if step.question is not None:
                raise LessonError(path, number + 1, "a step asks one question; start a new step for another")
            step.question, number = _read_question(path, lines, number)
            continue
        text.append(lines[number])
        number += 1
    step.text = "\n".join(text).strip()
    steps.append(step)
    return number


def _read_question(path: Path, lines: list[str], start: int) -> tuple[Question, int]:
    asked = [lines[start][2:].strip()]
    number = start + 1
    while number < len(lines) and lines[number].strip() and not _KEY_VALUE.match(lines[number].strip()):
        asked.append(lines[number].strip())  # a long question may wrap onto the next lines
        number += 1
    settings: dict[str, tuple[str, int]] = {}
    while number < len(lines) and (found := _KEY_VALUE.match(lines[number].strip())):
        settings[found[1]] = (found[2].strip(), number + 1)
        number += 1
    where = start + 1
    kind, kind_line = settings.get("kind", ("", where))
    if kind not in QUESTION_KINDS:
        raise LessonError(path, kind_line, f"a question's kind is one of {', '.join(QUESTION_KINDS)}, not {kind!r}")
    if "answer" not in settings:
        raise LessonError(path, where, "the question has no 'answer:' line (a measure of the model, e.g. "
                          "strongest_key(layer=0, head=3))")  # fmt: skip
    answer = parse_measure(path, *settings["answer"])
    options: tuple[str, ...] = ()
    if kind == "choice":
        text, line = settings.get("options", ("", where))
        options = tuple(option.strip() for option in text.split("|") if option.strip())
        if len(options) < 2:
            raise LessonError(path, line, "a choice question needs 'options: first | second | ...'")
    tolerance, relative = 0.0, False
    if "tolerance" in settings:
        text, line = settings["tolerance"]
        relative = text.endswith("%")
        try:
            tolerance = float(text.rstrip("%")) / (100 if relative else 1)
        except ValueError:
            raise LessonError(path, line, f"tolerance is a number or a percentage, not {text!r}") from None
    question = Question(" ".join(asked), kind, answer, options, tolerance, relative, where)
    return question, number


def parse_measure(path: Path, text: str, line: int) -> Measure:
    """'strongest_key(layer=0, head=3)' -> Measure; only literal keyword arguments, nothing is run."""
    found = _MEASURE.match(text.strip())
    if found is None:
        raise LessonError(path, line, f"an answer is a measure such as strongest_key(layer=0, head=3), not {text!r}")
    try:
        call = ast.parse(f"f({found[2]})", mode="eval").body
        assert isinstance(call, ast.Call) and not call.args
        arguments = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    except (SyntaxError, ValueError, AssertionError):
        raise LessonError(path, line, f"a measure's arguments are name=value pairs, as in {text!r}") from None
    return Measure(found[1], arguments, line)
