"""The class: join it, guess the next token in the teacher's rounds, and see how the class and the model compare."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import streamlit as st

import ui
from gptcore.tokenizer import get_tokenizer
from ui.chips import token_chips
from ui.classroom.connection import class_store
from ui.classroom.membership import class_of_session, my_seat
from ui.classroom.rounds import guess_form, poll_round, reveal_view
from ui.classroom.sidebar import join_form
from ui.classroom.teacher import is_teacher

st.title("Class")
class_id = class_of_session()
if class_id is None:
    ui.explain("When your teacher runs a class, join it here (or in the sidebar) with the code on the board.")
    if is_teacher():
        st.caption("Start a class on the Teacher's console; its rounds appear here.")
    elif class_store().running_class() is None:
        st.caption("No class is running on this server just now.")
    else:
        join_form("page")
    st.stop()

seat = my_seat() if not is_teacher() else None
latest = class_store().latest_round(class_id)
if latest is None:
    st.markdown("No round yet. When the teacher opens one, it appears here.")
else:
    ids = get_tokenizer().encode(latest.prompt)
    st.subheader(f"Round {latest.number}: what comes next?")
    st.html(token_chips(ids, ui.labels(ids)))
    if latest.is_open:
        if seat is not None:
            guess_form(latest, seat)
        else:
            st.caption(f"{len(class_store().answers_of(latest.id))} guesses so far.")
    else:
        reveal_view(latest, seat.student_id if seat else None)
poll_round(class_id, (latest.id, latest.is_open) if latest else None)
