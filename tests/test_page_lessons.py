"""The Lessons page through AppTest: a lesson from start to end on an untrained model, its view opened,
answers graded against the engine's own numbers, and a broken lesson file named with its line."""

import numpy as np
import pytest
from conftest import open_app_page

from gptcore import PRESETS, build_model, get_tokenizer, trace

TINY = "tiny-seed123"


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_lesson_from_start_to_end_on_the_tiny_model():
    at = open_app_page("pages/lessons.py", TINY)
    assert not at.exception and at.title[0].value == "Lessons"
    assert at.selectbox(key="lesson_chosen_box").value == "attention"
    # Step 1: the strongest key of layer 0, head 3, as the engine computes it for this model.
    model = build_model(PRESETS["tiny"], seed=123)
    row = trace(model, get_tokenizer().encode("Every effort moves you")).attention(0)[3][-1]
    right = int(np.argmax(row))
    at.button_group(key="lesson_answer_attention_0").set_value((right + 1) % 4).run()
    at.button(key="lesson_check").click().run()
    assert "Not quite." in at.error[0].value
    at.button_group(key="lesson_answer_attention_0").set_value(right).run()
    at.button(key="lesson_check").click().run()
    assert at.success[0].value.startswith("Right. In layer 0, head 3, the last token gives")
    assert "1 of 3 questions answered right" in at.caption[0].value

    at.button(key="lesson_next").click().run()  # step 2: the tiny model's feed-forward, d = 32
    at.text_input(key="lesson_answer_attention_1").input("8352").run()
    at.button(key="lesson_check").click().run()
    assert "8,352 in all" in at.success[0].value

    at.button(key="lesson_next").click().run()  # step 3: a choice between two prompts
    at.radio(key="lesson_answer_attention_2").set_value(0).run()
    at.button(key="lesson_check").click().run()
    assert not at.exception and (at.success or at.error)
    assert at.button(key="lesson_next").disabled  # the last step


def test_a_steps_view_opens_its_page_with_its_layer_and_head():
    at = open_app_page("pages/lessons.py", TINY)
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
