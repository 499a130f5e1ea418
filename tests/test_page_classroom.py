"""A class through AppTest sessions: a teacher, students who join, follow, guess, see the reveal, and come back.

Each test has its own class database (a SQLite file); tests/test_class_store.py runs the same
rules on PostgreSQL too, and tests/test_class_server.py runs whole servers.
"""

import pytest
from streamlit.testing.v1 import AppTest

PASSCODE = "correct horse battery"
TINY = "tiny-seed123"


SECRETS: dict = {}  # what each session's .streamlit/secrets.toml holds in this test


@pytest.fixture(autouse=True)
def own_class_database(class_database, monkeypatch):
    """SQLite through GPT_EXPLORER_CLASS_DB (the default), or PostgreSQL through secrets.toml's URL."""
    SECRETS.clear()
    if class_database.startswith("sqlite"):
        monkeypatch.setenv("GPT_EXPLORER_CLASS_DB", class_database.removeprefix("sqlite:///"))
    else:
        SECRETS["connections"] = {"classroom": {"url": class_database}}
    monkeypatch.setenv("GPT_EXPLORER_TEACHER_PASSCODE", PASSCODE)


def session(page: str | None = None, link: dict | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=120)
    for name, value in SECRETS.items():
        at.secrets[name] = value
    at.session_state["model_id"] = TINY
    for name, value in (link or {}).items():
        at.query_params[name] = value
    at.run()
    return at.switch_page(page).run() if page else at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def teacher_with_a_class() -> tuple[AppTest, str]:
    teacher = session("pages/teacher.py")
    teacher.text_input(key="teacher_passcode_box").input(PASSCODE)
    button(teacher, "Unlock").click().run()
    teacher.button(key="teacher_start").click().run()
    code = teacher.session_state["_teacher_class"][1]
    assert any(code in m.value for m in teacher.markdown)
    return teacher, code


def join(code: str, name: str) -> AppTest:
    student = session()
    student.sidebar.text_input(key="join_code_sidebar").input(code)
    student.sidebar.text_input(key="join_name_sidebar").input(name)
    button(student, "Join").click().run()
    assert not student.exception
    return student


def test_a_wrong_passcode_is_refused_and_tries_are_limited():
    at = session("pages/teacher.py")
    for attempt in range(5):
        at.text_input(key="teacher_passcode_box").input(f"guess {attempt}")
        button(at, "Unlock").click().run()
    assert "That is not the passcode. 0 more tries" in at.error[0].value
    at.text_input(key="teacher_passcode_box").input(PASSCODE)  # the right one, but too many tries this minute
    button(at, "Unlock").click().run()
    assert "Too many wrong tries" in at.error[0].value
    assert not any(b.key == "teacher_start" for b in at.button)


def test_without_a_passcode_the_console_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv("GPT_EXPLORER_TEACHER_PASSCODE")
    at = session("pages/teacher.py")
    assert "GPT_EXPLORER_TEACHER_PASSCODE" in at.info[0].value and "secrets.toml" in at.info[0].value
    assert not any(b.key == "teacher_start" for b in at.button)


def test_a_link_cannot_make_a_student_the_teacher():
    at = session("pages/teacher.py", link={"_teacher_unlocked": "true", "teacher": "1"})
    assert at.text_input(key="teacher_passcode_box")  # still locked
    assert not any(b.key == "teacher_start" for b in at.button)


def test_students_join_follow_the_teacher_and_come_back_after_a_reload():
    teacher, code = teacher_with_a_class()
    ana = join(code.lower(), "Ana")
    assert ana.session_state["_class_seat"].name == "Ana"
    seat = ana.query_params["seat"]
    seat = seat[0] if isinstance(seat, list) else seat
    bo = join(code, "Bo")
    assert "already called Bo" in join(code, "Bo").error[0].value  # a second Bo is told why

    bo.sidebar.toggle(key="class_follow").set_value(False).run()  # Bo stops following
    teacher.switch_page("pages/attention.py").run()
    teacher.selectbox(key="attention_layer_box").select(1).run()
    teacher.sidebar.button(key="class_show_everyone").click().run()
    ana.run()  # the sidebar's polling fragment finds the new view
    assert ana.title[0].value == "Attention" and ana.session_state["attention_layer"] == 1
    bo.run()
    assert bo.title[0].value != "Attention"
    bo.sidebar.toggle(key="class_follow").set_value(True).run()  # and comes back: the teacher's newest view
    assert bo.title[0].value == "Attention"

    roster = teacher.switch_page("pages/teacher.py").run().dataframe[0].value
    assert set(roster["student"]) == {"Ana", "Bo"} and "Attention" in set(roster["page"])

    again = session(link={"seat": seat})  # Ana's browser reloads
    assert again.session_state["_class_seat"].name == "Ana"
    assert any("as Ana" in m.value for m in again.sidebar.markdown)


def test_a_round_from_open_to_reveal_and_the_export():
    teacher, code = teacher_with_a_class()
    ana, bo = join(code, "Ana"), join(code, "Bo")
    teacher.text_area(key="teacher_round_prompt").input("Every effort moves you")
    button(teacher, "Open round 1").click().run()
    assert any("Round 1 is open" in m.value for m in teacher.markdown)

    ana.run()  # the round moves followers to the Class page
    assert ana.title[0].value == "Class"
    button(ana, "Send my guess").click().run()
    assert "Type a guess first" in ana.error[0].value
    ana.text_input(key="class_guess").input("forward")
    button(ana, "Send my guess").click().run()
    assert "read as the token ␣forward" in ana.success[0].value
    bo.run()
    bo.text_input(key="class_guess").input("x" * 41)
    button(bo, "Send my guess").click().run()
    assert "41 characters" in bo.error[0].value
    bo.text_input(key="class_guess").input("home")
    button(bo, "Send my guess").click().run()

    teacher.run()
    assert any("2 of 2 students have guessed" in c.value for c in teacher.caption)
    button(teacher, "Reveal the answers").click().run()
    assert not teacher.exception
    ana.run()
    assert not ana.exception
    assert any("choice number" in i.value for i in ana.info)
    assert any("Score over 1 round" in m.value for m in ana.markdown)
    assert len(ana.get("plotly_chart")) == 2  # the model's top 10 beside the class's guesses

    teacher.switch_page("pages/teacher.py").run()
    assert any(d.proto.label == "Rounds and answers (CSV)" for d in teacher.get("download_button"))


def test_a_reveal_the_model_cannot_make_says_why_and_keeps_the_round_open():
    teacher, _ = teacher_with_a_class()
    class_id = teacher.session_state["_teacher_class"][0]
    store = teacher.session_state["_class_store"]
    store.open_round(class_id, "Every effort moves you", "a-model-deleted-since")
    teacher.run()
    button(teacher, "Reveal the answers").click().run()
    assert not teacher.exception
    assert "could not be revealed yet" in teacher.error[0].value
    assert store.latest_round(class_id).is_open


def test_lesson_progress_is_kept_in_the_class_and_shown_on_the_console():
    teacher, code = teacher_with_a_class()
    ana, bo = join(code, "Ana"), join(code, "Bo")
    seat = ana.query_params["seat"]
    seat = seat[0] if isinstance(seat, list) else seat
    for student, typed in ((ana, "8"), (bo, "7"), (bo, "8")):  # 32 dims / 4 heads: Bo is right at his second try
        student.switch_page("pages/lessons.py").run()
        student.selectbox(key="lesson_chosen_box").set_value("03-multihead").run()
        student.text_input(key="lesson_answer_03-multihead_0").input(typed).run()
        student.button(key="lesson_check").click().run()
    assert ana.success[0].value.startswith("Right.") and bo.success[0].value.startswith("Right.")

    again = session("pages/lessons.py", link={"seat": seat})  # Ana's browser reloads: her answer is still there
    again.selectbox(key="lesson_chosen_box").set_value("03-multihead").run()
    assert again.success[0].value.startswith("Right.") and "1 of 2 questions answered right" in again.caption[0].value

    teacher.run()
    progress, counts = (frame.value for frame in teacher.dataframe[1:3])  # after the roster; AppTest keeps no keys
    assert dict(zip(progress["student"], progress["Q1"], strict=True)) == {"Ana": "✓ 8", "Bo": "✓ 8 (2 tries)"}
    assert list(progress["right"]) == ["1 of 2", "1 of 2"]
    assert counts.to_dict("records") == [{"answer": "8", "students": 2, "right": "✓"}]


def test_outside_a_class_progress_stays_in_the_session():
    at = session("pages/lessons.py")
    at.selectbox(key="lesson_chosen_box").set_value("03-multihead").run()
    at.text_input(key="lesson_answer_03-multihead_0").input("8").run()
    at.button(key="lesson_check").click().run()
    assert at.success[0].value.startswith("Right.")
    assert at.session_state["lesson_results"][("03-multihead", 0)].correct is True


def test_showing_everyone_a_lesson_step_brings_the_class_to_it():
    teacher, code = teacher_with_a_class()
    ana = join(code, "Ana")
    teacher.switch_page("pages/lessons.py").run()
    teacher.selectbox(key="lesson_chosen_box").set_value("04-layernorm").run()
    teacher.button(key="lesson_next").click().run()
    teacher.sidebar.button(key="class_show_everyone").click().run()
    ana.run()  # the polling fragment opens the teacher's view
    assert ana.title[0].value == "Lessons" and ana.subheader[0].value == "Mean 0, variance 1"
