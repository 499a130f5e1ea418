"""The teacher's console: the passcode, the class and its join code, who is here, rounds, and the export."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import pandas as pd
import streamlit as st

import ui
from ui.classroom.connection import class_store
from ui.classroom.membership import end_class, start_class, teachers_class
from ui.classroom.rounds import open_round, reveal_round
from ui.classroom.teacher import PASSCODE_ENV, configured_passcode, is_teacher, lock, try_passcode
from ui.frame import page_title
from ui.lessons.catalog import load_lessons
from ui.lessons.class_view import answer_counts, answers_csv_rows, progress_table, question_steps

UNLOCK_MESSAGE_KEY = "_teacher_unlock_message"  # plain session keys: what the last click said
ROUND_MESSAGE_KEY = "_teacher_round_message"
LIVE_S = 2.0  # how often the roster and the count of guesses are redrawn


def unlock() -> None:
    """The Unlock button's callback: callbacks run before the script, with the form's values."""
    st.session_state[UNLOCK_MESSAGE_KEY] = try_passcode(st.session_state.get("teacher_passcode_box", ""))


def unlock_form() -> None:
    if configured_passcode() is None:
        st.info(
            "No teacher's passcode is set on this server, so the console is locked. Set one before starting the "
            'app, either in `.streamlit/secrets.toml` as `teacher_passcode = "…"` or in the environment as '
            f"`{PASSCODE_ENV}`, then restart it."
        )
        return
    with st.form("teacher_unlock", clear_on_submit=True):
        st.text_input("Teacher's passcode", type="password", key="teacher_passcode_box")
        st.form_submit_button("Unlock", key="teacher_unlock_button", on_click=unlock)
    problem = st.session_state.pop(UNLOCK_MESSAGE_KEY, None)
    if problem:
        st.error(problem)


@st.fragment(run_every=LIVE_S)
def who_is_here(class_id: int) -> None:
    """The roster, redrawn every few seconds: who joined, on which page, and who is connected."""
    roster = class_store().roster(class_id)
    if not roster:
        st.caption("Nobody has joined yet.")
        return
    table = pd.DataFrame(
        {
            "student": [member.name for member in roster],
            "page": [page_title(member.page) for member in roster],
            "connected": ["yes" if member.connected else "no" for member in roster],
        }
    )
    st.dataframe(table, hide_index=True, key="teacher_roster")
    st.caption(f"{sum(m.connected for m in roster)} of {len(roster)} connected now.")


@st.fragment(run_every=LIVE_S)
def guesses_so_far(class_id: int, round_id: int) -> None:
    """How many have guessed, kept up to date while the round is open (the guesses stay hidden)."""
    store = class_store()
    st.caption(f"{len(store.answers_of(round_id))} of {len(store.roster(class_id))} students have guessed.")


@st.fragment(run_every=LIVE_S)
def lesson_progress(class_id: int) -> None:
    """Each lesson's answers so far: a row per student, and how the class answered each question."""
    answers = class_store().lessons.of_class(class_id)
    lessons = {lesson.slug: lesson for lesson in load_lessons()[0]}
    answered = [slug for slug in lessons if any(answer.lesson == slug for answer in answers)]
    if not answered:
        st.caption("No lesson answers yet. Students find the lessons on the Lessons page.")
        return
    chosen = st.selectbox("Lesson", answered, format_func=lambda slug: lessons[slug].title, key="teacher_lesson")
    lesson = lessons[chosen]
    st.dataframe(progress_table(answers, lesson), hide_index=True, key="teacher_lesson_progress")
    st.caption("✓ right, ✗ not yet: each student's latest answer, graded on the model they had selected.")
    for number, step in enumerate(question_steps(lesson), start=1):
        counts = answer_counts(answers, lesson, step)
        with st.expander(f"Q{number}. {lesson.steps[step].question.text} ({int(counts['students'].sum())} answered)"):
            st.dataframe(counts, hide_index=True, key=f"teacher_lesson_q{number}")


def reveal_clicked(latest) -> None:
    """Reveal, or say why the model could not be asked (short of memory, a model that is gone)."""
    try:
        reveal_round(latest)
    except (KeyError, RuntimeError, ValueError, OSError) as error:
        st.session_state[ROUND_MESSAGE_KEY] = f"The answers could not be revealed yet: {error}"


def open_round_clicked() -> None:
    st.session_state[ROUND_MESSAGE_KEY] = open_round(st.session_state.get("teacher_round_prompt", ""))


st.title("Teacher's console")
if not is_teacher():
    ui.explain(
        "Start a class, send everyone to the page you are showing, and run “predict the next token” rounds. "
        "Students join from their sidebar with the class code."
    )
    unlock_form()
    st.stop()

store = class_store()
running = teachers_class()
if running is not None and store.class_code(running[0]) is None:  # ended elsewhere
    end_class()
    running = None
if running is None:
    st.markdown("No class is running.")
    st.button("Start a class", key="teacher_start", type="primary", on_click=start_class)
    st.button("Lock the console", key="teacher_lock", on_click=lock)
    st.stop()

class_id, code = running
st.markdown(
    f"Students join from the sidebar with the code <span style='font-size:2.4rem;font-weight:700;"
    f"letter-spacing:0.3rem'>{code}</span>",
    unsafe_allow_html=True,
)

st.subheader("Who is here")
who_is_here(class_id)
st.markdown(
    "To show the class something, open that page, set it up (prompt, model, layer, head, step…), and press "
    "**📣 Show everyone this page** in the sidebar: students who follow you get there within two seconds."
)

st.subheader("Predict the next token")
latest = store.latest_round(class_id)
if latest is not None and latest.is_open:
    st.markdown(f"**Round {latest.number} is open** on “{latest.prompt}” ({latest.model_id}).")
    guesses_so_far(class_id, latest.id)
    st.button("Reveal the answers", key="teacher_reveal", type="primary", on_click=reveal_clicked, args=(latest,))
    problem = st.session_state.pop(ROUND_MESSAGE_KEY, None)
    if problem:
        st.error(problem)
else:
    st.session_state.setdefault("teacher_round_prompt", ui.current_prompt())
    with st.form("teacher_round"):
        st.text_area("The prompt the class continues", height=80, key="teacher_round_prompt")
        st.caption(f"Guesses are scored against {ui.current_model_id()}, the model this session shows.")
        st.form_submit_button(
            f"Open round {1 if latest is None else latest.number + 1}",
            type="primary",
            key="teacher_open_round",
            on_click=open_round_clicked,
        )
    problem = st.session_state.pop(ROUND_MESSAGE_KEY, None)
    if problem:
        st.error(problem)
if latest is not None and not latest.is_open:
    st.page_link("pages/classroom.py", label=f"Round {latest.number}'s answers, as the class sees them", icon="🎯")

rows = store.export_rows(class_id)
if rows:
    ui.csv_download(pd.DataFrame(rows), f"class_{code}_rounds.csv", label="Rounds and answers (CSV)", key="teacher_csv")

st.subheader("Lessons")
lesson_progress(class_id)
lesson_rows = answers_csv_rows(store.lessons.of_class(class_id), {lesson.slug: lesson for lesson in load_lessons()[0]})
if lesson_rows:
    ui.csv_download(
        pd.DataFrame(lesson_rows), f"class_{code}_lessons.csv", label="Lesson answers (CSV)", key="teacher_lessons_csv"
    )


st.divider()
left, right = st.columns(2)
left.button("End the class", key="teacher_end", on_click=end_class, help="Students can no longer join or answer.")
right.button("Lock the console", key="teacher_lock", on_click=lock)
