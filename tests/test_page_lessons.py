"""The Lessons page through AppTest: a lesson from start to end on an untrained model, its view opened,
answers graded against the engine's own numbers, and a broken lesson file named with its line."""

import functools
from pathlib import Path

import pytest
from conftest import open_app_page, open_linked_page

from gptcore import GPT_CONFIG_124M, PRESETS, build_model, get_tokenizer, trace
from ui.classroom.membership import PAGE_KEY
from ui.frame import URL_PATHS
from ui.lessons.format import read_lesson
from ui.lessons.measures import Reading, compute

TINY = "tiny-seed123"
BOOK = "book-124m-seed123"


LESSONS = sorted((Path(__file__).resolve().parent.parent / "lessons").glob("*.md"))
MODELS = {TINY: (PRESETS["tiny"], 123), BOOK: (GPT_CONFIG_124M, 123)}  # as the app's catalog builds them


@functools.cache
def engine_model(model_id: str):
    cfg, seed = MODELS[model_id]
    return build_model(cfg, seed=seed)


def right_answer(step, model_id: str):
    """The answer the engine computes for this step on the app's model: what a careful student would give."""
    model = engine_model(model_id)
    prompt = step.view.get("prompt", "Every effort moves you")
    reading = Reading(model.cfg, model_id, prompt, lambda text: trace(model, get_tokenizer().encode(text)), model)
    return compute(step.question.answer, reading).value


def give(at, step, key: str, value) -> None:
    kind = step.question.kind
    if kind == "token":
        at.button_group(key=key).set_value(int(value)).run()
    elif kind == "choice":
        at.radio(key=key).set_value(int(value)).run()
    else:
        at.text_input(key=key).input(f"{value:.10g}").run()


@pytest.mark.parametrize("model_id", [TINY, BOOK])
@pytest.mark.parametrize("path", LESSONS, ids=lambda path: path.stem)
def test_every_shipped_lesson_from_start_to_end(path, model_id):
    """Every question answered right on each untrained model, graded by the page; on the tiny model
    each step's view is opened too, and the lesson carries on where it was."""
    lesson = read_lesson(path, set(URL_PATHS))
    at = open_app_page("pages/lessons.py", model_id)
    at.selectbox(key="lesson_chosen_box").set_value(lesson.slug).run()
    asked = sum(step.question is not None for step in lesson.steps)
    for index, step in enumerate(lesson.steps):
        assert not at.exception, at.exception
        assert at.subheader[0].value == step.title
        if step.question is not None:
            assert any(m.value == f"**{step.question.text}**" for m in at.markdown)  # the question as written
            give(at, step, f"lesson_answer_{lesson.slug}_{index}", right_answer(step, model_id))
            at.button(key="lesson_check").click().run()
            assert not at.error and at.success and at.success[0].value.startswith("Right."), (step.title, at.info)
        if model_id == TINY and "page" in step.view:
            at.button(key="lesson_open").click().run()
            assert not at.exception, at.exception
            assert at.session_state[PAGE_KEY] == step.view["page"]
            at.switch_page("pages/lessons.py").run()
        if index < len(lesson.steps) - 1:
            at.button(key="lesson_next").click().run()
    assert at.button(key="lesson_next").disabled
    if asked:
        assert f"{asked} of {asked} questions answered right" in at.caption[0].value


def test_a_wrong_answer_says_what_decided_it():
    at = open_app_page("pages/lessons.py", TINY)
    at.selectbox(key="lesson_chosen_box").set_value("02-attention").run()
    step = read_lesson(LESSONS[1], set(URL_PATHS)).steps[0]
    right = int(right_answer(step, TINY))
    at.button_group(key="lesson_answer_02-attention_0").set_value((right + 1) % 4).run()
    at.button(key="lesson_check").click().run()
    assert at.error[0].value.startswith("Not quite: ") and "of its attention to" in at.error[0].value
    assert "0 of 4 questions answered right" in at.caption[0].value
    at.button(key="lesson_next").click().run()  # the number question of the next step: a word is not a number
    at.text_input(key="lesson_answer_02-attention_1").input("about zero").run()
    at.button(key="lesson_check").click().run()
    assert at.info[0].value.startswith("“about zero” is not a number") and not at.error  # not graded


def test_nothing_chosen_gets_a_plain_message():
    at = open_app_page("pages/lessons.py", TINY)
    at.selectbox(key="lesson_chosen_box").set_value("02-attention").run()
    at.button(key="lesson_check").click().run()
    assert at.info[0].value == "Choose or type an answer first." and not at.exception


def test_a_steps_view_opens_its_page_with_its_layer_and_head():
    at = open_app_page("pages/lessons.py", TINY)
    at.selectbox(key="lesson_chosen_box").set_value("02-attention").run()
    at.button(key="lesson_open").click().run()
    assert at.title[0].value == "Attention"
    assert at.session_state["attention_layer"] == 0 and at.session_state["attention_head"] == 3


def test_a_broken_lesson_file_is_named_and_the_others_still_work(tmp_path, monkeypatch):
    (tmp_path / "good.md").write_text("---\ntitle: Good\n---\n## One\nThe text.\n")
    (tmp_path / "broken.md").write_text("---\ntitle: Broken\n---\n## One\npage: nowhere\n")
    monkeypatch.setenv("GPT_EXPLORER_LESSONS", str(tmp_path))
    at = open_app_page("pages/lessons.py", TINY)
    assert not at.exception
    assert any("broken.md, line 5: unknown page 'nowhere'" in w.value for w in at.main.warning)
    assert at.subheader[0].value == "One"


@pytest.fixture(autouse=True)
def _no_leftover_env(monkeypatch):
    monkeypatch.delenv("GPT_EXPLORER_LESSONS", raising=False)


def test_a_link_opens_a_lesson_at_its_step_and_the_address_follows_the_student():
    at = open_linked_page("pages/lessons.py", {"lesson": "02-attention", "lesson_step": "3"})
    assert at.subheader[0].value == "The first token has no choice"
    at.button(key="lesson_next").click().run()
    assert at.query_params["lesson_step"] in ("4", ["4"]) and at.query_params["lesson"] in (
        "02-attention",
        ["02-attention"],
    )


def test_a_question_the_model_cannot_answer_says_so_with_its_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "deep.md").write_text(
        "---\ntitle: Deep\n---\n## Layer five\nprompt: Every effort moves you\n\n"
        "? Which token does the last token attend to most in layer 5, head 0?\nkind: token\n"
        "answer: strongest_key(layer=5, head=0)\n"
    )
    monkeypatch.setenv("GPT_EXPLORER_LESSONS", str(tmp_path))
    at = open_app_page("pages/lessons.py", TINY)  # two layers
    at.button_group(key="lesson_answer_deep_0").set_value(1).run()
    at.button(key="lesson_check").click().run()
    assert not at.exception
    assert at.info[0].value == (
        "This question cannot be answered on this model (deep.md, line 9): "
        "layer 5 does not exist; this model has layers 0 to 1"
    )


def test_an_answer_to_a_question_since_edited_away_is_not_counted(tmp_path, monkeypatch):
    lesson = tmp_path / "edited.md"
    lesson.write_text(
        "---\ntitle: Edited\n---\n## Heads\n\n? How many numbers per head?\nkind: number\nanswer: head_size()\n"
    )
    monkeypatch.setenv("GPT_EXPLORER_LESSONS", str(tmp_path))
    at = open_app_page("pages/lessons.py", TINY)
    at.text_input(key="lesson_answer_edited_0").input("8").run()
    at.button(key="lesson_check").click().run()
    assert "1 of 1 questions answered right" in at.caption[0].value
    # The teacher inserts a step before it while the class works: step 0 now asks something else.
    lesson.write_text(
        "---\ntitle: Edited\n---\n## Size\n\n? What is emb_dim?\nkind: number\nanswer: embedding_size()\n"
        "## Heads\n\n? How many numbers per head?\nkind: number\nanswer: head_size()\n"
    )
    at.run()
    assert "0 of 2 questions answered right" in at.caption[0].value and not at.success
