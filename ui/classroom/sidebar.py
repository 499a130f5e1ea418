"""The class in every page's sidebar: join it, follow the teacher, or (for the teacher) show everyone this page.

A student's sidebar holds a fragment that reruns every POLL_S seconds on its own: it notes which
page the student is on and opens the teacher's newest view. A database that cannot be reached
leaves a short warning here and every page working.
"""

from __future__ import annotations

import logging

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from .connection import class_store
from .membership import (
    CLASS_PAGE,
    FOLLOW_KEY,
    POLL_S,
    TEACHER_PAGE,
    class_pulse,
    class_running,
    current_page,
    follow_step,
    join,
    leave,
    my_seat,
    show_everyone,
    teachers_class,
)
from .teacher import is_teacher

log = logging.getLogger(__name__)


def render_class_sidebar() -> None:
    """The sidebar's class section, for whoever this session is."""
    try:
        if is_teacher():
            _teacher_section()
        elif my_seat() is not None:
            _student_section()
        elif class_running():
            with st.expander("Join the class"):
                join_form("sidebar")
    except SQLAlchemyError as error:
        log.warning("class database unreachable: %s", type(error).__name__)
        st.warning("The class database cannot be reached just now; everything else works.", icon="🔌")


def join_form(where: str) -> None:
    """Code and name, and the Join button; a mistake is said under it."""
    with st.form(f"join_{where}", border=False):
        st.text_input("Class code", max_chars=12, key=f"join_code_{where}")
        st.text_input("Your name, as the class will see it", max_chars=40, key=f"join_name_{where}")
        st.form_submit_button("Join", key=f"join_button_{where}", on_click=_join, args=(where,))
    problem = st.session_state.pop(f"_join_message_{where}", None)
    if problem:
        st.error(problem)


def _join(where: str) -> None:
    """The Join button's callback (it runs before the script, so the page that follows shows the class)."""
    code, name = st.session_state.get(f"join_code_{where}", ""), st.session_state.get(f"join_name_{where}", "")
    st.session_state[f"_join_message_{where}"] = join(code, name)


def _teacher_section() -> None:
    running = teachers_class()
    if running is None:
        st.caption("Teacher: start a class on the Teacher's console.")
        return
    connected = sum(member.connected for member in class_store().roster(running[0]))
    st.markdown(f"**Class {running[1]}** · {connected} connected")
    if current_page() == TEACHER_PAGE:  # the console is the teacher's own: nothing here to show the class
        st.caption("Open a page to show it to the class.")
        return
    st.button(
        "📣 Show everyone this page",
        key="class_show_everyone",
        on_click=show_everyone,
        help="Sends every following student here, with this prompt, model and view (layer, head, step…).",
    )


def _student_section() -> None:
    seat = my_seat()
    st.markdown(f"**Class {seat.code}**, as {seat.name}")
    st.toggle("Follow the teacher", key=FOLLOW_KEY, value=True)
    _poll()
    st.button("Leave the class", key="class_leave", on_click=leave)


@st.fragment(run_every=POLL_S)
def _poll() -> None:
    seat = my_seat()
    if seat is None:
        return
    try:
        pulse = class_pulse(seat.class_id)
        if not pulse.running:
            st.info("The class has ended.")
            leave()
            return
        follow_step(seat, pulse)
    except SQLAlchemyError as error:
        log.warning("class poll failed: %s", type(error).__name__)
        return
    if pulse.round_open and current_page() != CLASS_PAGE:
        st.page_link(f"pages/{CLASS_PAGE}.py", label="A round is open: guess the next token", icon="🎯")
