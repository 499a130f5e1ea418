"""Lesson files (ui/lessons): the shipped lessons read and compute on both untrained models, answers are
graded against hand-computed ones, and each kind of mistake in a file is named with its line."""

from pathlib import Path

import numpy as np
import pytest

from gptcore import get_tokenizer, trace
from ui.frame import URL_PATHS as APP_URL_PATHS
from ui.lessons.format import LessonError, read_lesson
from ui.lessons.measures import Reading, check_measure, compute, grade

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
URL_PATHS = set(APP_URL_PATHS)


def reading(model, name: str, prompt: str) -> Reading:
    """What a measure reads: ``model`` as the selected one, tracing prompts with the engine itself."""
    return Reading(model.cfg, name, prompt, lambda text: trace(model, get_tokenizer().encode(text)))


@pytest.fixture(scope="module", params=["tiny", "book-124m"])
def reading_for(request, tiny_model, book_model):
    model = tiny_model if request.param == "tiny" else book_model
    return lambda prompt: reading(model, request.param, prompt)


def shipped() -> list[Path]:
    return sorted(LESSONS.glob("*.md"))


@pytest.mark.parametrize("path", shipped(), ids=lambda path: path.stem)
def test_every_shipped_lesson_reads_and_every_answer_computes(path, reading_for):
    lesson = read_lesson(path, URL_PATHS)
    assert lesson.title and lesson.steps
    for step in lesson.steps:
        if step.question is None:
            continue
        assert check_measure(step.question.answer) is None
        computed = compute(step.question.answer, reading_for(step.view.get("prompt", "Every effort moves you")))
        assert computed.why
        if step.question.kind == "choice":
            assert computed.value in range(len(step.question.options))


def test_answers_match_hand_computed_ones(book_model):
    prompt = "Every effort moves you"
    ids = get_tokenizer().encode(prompt)
    book = reading(book_model, "book", prompt)
    lesson = read_lesson(LESSONS / "attention.md", URL_PATHS)
    strongest, parameters, surer = (step.question for step in lesson.steps)

    # Layer 0, head 3's last row, from the whole layer's maps: its argmax is the answer.
    row = trace(book_model, ids).attention(0)[3][-1]
    expected = int(np.argmax(row))
    computed = compute(strongest.answer, book)
    assert computed.value == expected
    assert grade(strongest, expected, computed).correct and not grade(strongest, (expected + 1) % 4, computed).correct

    # One block's feed-forward in GPT-2 124M: 768 x 3072 + 3072 + 3072 x 768 + 768 (the book's 4,722,432).
    computed = compute(parameters.answer, book)
    assert computed.value == 4_722_432 and "4,722,432" in computed.why
    assert grade(parameters, "4,700,000", computed).correct  # within the lesson's 1%
    assert not grade(parameters, "4,600,000", computed).correct
    assert not grade(parameters, "many", computed).correct

    tops = []
    for text in ("The capital of France is", "I went to the"):
        logits = trace(book_model, get_tokenizer().encode(text)).last_logits.astype(np.float64)
        tops.append(np.exp(logits.max() - logits.max()) / np.exp(logits - logits.max()).sum())
    assert compute(surer.answer, book).value == int(tops[1] > tops[0])


def test_the_untrained_models_differ_and_each_is_graded_against_its_own(tiny_model, book_model):
    lesson = read_lesson(LESSONS / "attention.md", URL_PATHS)
    question = lesson.steps[0].question
    answers = {}
    for name, model in (("tiny", tiny_model), ("book", book_model)):
        reading = Reading(
            model.cfg, name, "Every effort moves you", lambda text, m=model: trace(m, get_tokenizer().encode(text))
        )
        answers[name] = compute(question.answer, reading)
    assert answers["tiny"].why != answers["book"].why  # different weights, different numbers


BROKEN = {
    "no front matter": ("## Step\npage: attention\n", 1, "front matter"),
    "no title": ("---\nchapter: 4\n---\n## Step\n", 1, "needs a title"),
    "unknown page": ("---\ntitle: T\n---\n## Step\npage: attentoin\n", 5, "unknown page 'attentoin'"),
    "unknown setting": ("---\ntitle: T\n---\n## Step\nlayr: 1\n", 5, "unknown setting 'layr'"),
    "bad kind": (
        "---\ntitle: T\n---\n## Step\n\n? Why?\nkind: essay\nanswer: feedforward_parameters()\n",
        7,
        "kind is one of",
    ),
    "no answer": ("---\ntitle: T\n---\n## Step\n\n? Why?\nkind: number\n", 6, "no 'answer:' line"),
    "bad measure": (
        "---\ntitle: T\n---\n## Step\n\n? Why?\nkind: number\nanswer: 2 + 2\n",
        8,
        "an answer is a measure",
    ),
    "choice without options": (
        "---\ntitle: T\n---\n## Step\n\n? Which?\nkind: choice\nanswer: surer_prompt(first='a', second='b')\n",
        6,
        "needs 'options:",
    ),
    "no steps": ("---\ntitle: T\n---\nJust text.\n", 4, "before the first step"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_a_mistake_in_a_lesson_file_names_its_file_and_line(name, tmp_path):
    text, line, message = BROKEN[name]
    path = tmp_path / "broken.md"
    path.write_text(text)
    with pytest.raises(LessonError) as raised:
        read_lesson(path, URL_PATHS)
    assert raised.value.line == line and message in str(raised.value)
    assert str(raised.value).startswith(f"broken.md, line {line}:")


def test_measures_that_do_not_exist_or_do_not_fit_are_named(tmp_path, book_model):
    path = tmp_path / "measures.md"
    path.write_text(
        "---\ntitle: T\n---\n## A\n\n? Q\nkind: number\nanswer: head_count()\n"
        "## B\n\n? Q\nkind: token\nanswer: strongest_key(layer=0)\n"
        "## C\n\n? Q\nkind: token\nanswer: strongest_key(layer=12, head=0)\n"
    )
    unknown, missing, outside = (step.question.answer for step in read_lesson(path, URL_PATHS).steps)
    assert "unknown measure 'head_count'" in check_measure(unknown)
    assert "missing a required argument: 'head'" in check_measure(missing)
    assert check_measure(outside) is None  # it fits; only the model can say layer 12 is outside it
    reading = Reading(
        book_model.cfg, "book", "Every effort", lambda text: trace(book_model, get_tokenizer().encode(text))
    )
    with pytest.raises(ValueError, match="layer"):
        compute(outside, reading)
