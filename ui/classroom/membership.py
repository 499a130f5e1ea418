"""This browser session's place in the class: the student's seat or the teacher's class, and the views
the teacher sends.

A student's seat token travels in the address (``?seat=...``), so a reloaded browser rejoins as
the same student. The teacher's view is what a shared link carries (page, prompt, model and the
page's link parameters: layer, head, step, edits), so following the teacher is opening the
teacher's link, done for the student by the class's polling fragment (ui/classroom/sidebar.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import streamlit as st

from ..frame import PAGES, URL_PATHS
from ..models import current_model_id
from ..picker import choose_model
from ..remembered import opened_with, put_in_link, reopen_with
from ..state import PROMPT_KEY, current_prompt
from .connection import class_store
from .store import ClassError, Pulse, Seat
from .teacher import is_teacher, require_teacher

SEAT_KEY = "_class_seat"  # plain session keys
TEACHER_CLASS_KEY = "_teacher_class"  # (class_id, code) of the class this teacher runs
APPLIED_KEY = "_class_view_applied"  # the number of the last teacher's view this session opened
FOLLOW_KEY = "class_follow"
PAGE_KEY = "_current_page"  # the url path of the page this session shows ("" for Start here)
SEAT_PARAM = "seat"
PRIVATE_PARAMS = {"prompt", "model", SEAT_PARAM, "present"}  # a view carries prompt and model apart; never a seat
CLASS_PAGE, TEACHER_PAGE = "classroom", "teacher"  # the class's two pages' url paths
# How often a student's page asks the database what the teacher did (its polling fragments). Half a
# second measured slower for a class of 30 than one (bench/bench_classroom.py): the polls then
# compete with drawing the thirty pages the teacher's click asks for.
POLL_S = 1.0
PULSE_TTL_S = 0.25  # how long a process's sessions share one answer to "what did the teacher do?"
_answers: dict[tuple, tuple[float, object]] = {}  # (question, engine, ...) -> (when asked, answer)
_answers_lock = threading.Lock()


def page_file(url_path: str) -> str:
    """'attention' -> 'pages/attention.py' for st.switch_page; unknown or empty paths are Start here."""
    files = {path: f"pages/{file}" for path, (file, _, _) in zip(URL_PATHS, PAGES, strict=True)}
    return files.get(url_path, f"pages/{PAGES[0][0]}")


def current_page() -> str:
    return st.session_state.get(PAGE_KEY, "")


# --- students ------------------------------------------------------------------------------------


def my_seat() -> Seat | None:
    """This student's seat: joined in this session, or found from the address's seat token after a reload."""
    if SEAT_KEY not in st.session_state:
        token = opened_with(SEAT_PARAM)
        st.session_state[SEAT_KEY] = class_store().rejoin(token) if token else None
    seat = st.session_state[SEAT_KEY]
    if seat is not None:
        put_in_link(SEAT_PARAM, seat.seat)
    return seat


def join(code: str, name: str) -> str | None:
    """Join the class with ``code`` as ``name``; the message to show if that cannot be done."""
    try:
        seat = class_store().join(code, name)
    except ClassError as error:
        return str(error)
    st.session_state[SEAT_KEY] = seat
    st.session_state[APPLIED_KEY] = 0  # the teacher's current view, if any, is opened next
    put_in_link(SEAT_PARAM, seat.seat)
    return None


def leave() -> None:
    st.session_state[SEAT_KEY] = None
    st.query_params.pop(SEAT_PARAM, None)


def following() -> bool:
    return bool(st.session_state.get(FOLLOW_KEY, True))


def open_view(view: dict) -> None:
    """Open the teacher's view in this session: prompt, model, the page's choices, then the page."""
    st.session_state[PROMPT_KEY] = str(view.get("prompt", current_prompt()))
    if view.get("model"):
        choose_model(view["model"])
    reopen_with(view.get("params", {}))
    st.switch_page(page_file(str(view.get("page", ""))))


def _shared_answer(question: tuple, ttl_s: float, ask: Callable[[], object]) -> object:
    """``ask()``'s answer, shared by every session of this process for ``ttl_s`` seconds."""
    with _answers_lock:
        found = _answers.get(question)
        if found is None or time.monotonic() - found[0] > ttl_s:
            found = (time.monotonic(), ask())
            _answers[question] = found
    return found[1]


def class_pulse(class_id: int) -> Pulse:
    """The class's pulse (store.pulse), shared for PULSE_TTL_S by every session of this process: thirty
    students polling each second then cost the database a few queries a second, not thirty."""
    store = class_store()
    return _shared_answer(("pulse", id(store.engine), class_id), PULSE_TTL_S, lambda: store.pulse(class_id))


def forget_pulses() -> None:
    """After a teacher's action: this process's students see it on their next poll, not a quarter second on."""
    with _answers_lock:
        _answers.clear()


def class_running() -> bool:
    """Whether a class runs on this server, as every page's sidebar asks (to offer "Join the class"):
    asked of the database at most once a second per process."""
    store = class_store()
    return _shared_answer(("running", id(store.engine)), 1.0, lambda: store.running_class() is not None)


def follow_step(seat: Seat, pulse: Pulse) -> None:
    """One poll: note where the student is, and open the teacher's newest view if they follow."""
    store = class_store()
    last_noted = st.session_state.get("_class_noted", (0.0, None))
    if time.time() - last_noted[0] > 5 or last_noted[1] != current_page():  # presence: a write every 5 s at most
        store.seen(seat.student_id, current_page())
        st.session_state["_class_noted"] = (time.time(), current_page())
    if not following() or pulse.view_number <= st.session_state.get(APPLIED_KEY, 0):
        return
    number, view = store.shown_view(seat.class_id)
    st.session_state[APPLIED_KEY] = number
    if view is not None:
        open_view(view)


# --- the teacher ---------------------------------------------------------------------------------


def teachers_class() -> tuple[int, str] | None:
    """The class the teacher runs: this session's, or the server's running one (after a reload)."""
    if not is_teacher():
        return None
    if st.session_state.get(TEACHER_CLASS_KEY) is None:
        st.session_state[TEACHER_CLASS_KEY] = class_store().running_class()
    return st.session_state[TEACHER_CLASS_KEY]


def start_class() -> None:
    require_teacher()
    st.session_state[TEACHER_CLASS_KEY] = class_store().start_class()
    forget_pulses()  # this process's students see the Join form at once


def end_class() -> None:
    require_teacher()
    running = teachers_class()
    if running is not None:
        class_store().end_class(running[0])
    st.session_state[TEACHER_CLASS_KEY] = None
    forget_pulses()


def teachers_view(page: str | None = None) -> dict:
    """What this session shows now, as a view to send: page, prompt, model and the link's parameters."""
    params = {name: st.query_params[name] for name in st.query_params if name not in PRIVATE_PARAMS}
    page = current_page() if page is None else page
    return {"page": page, "prompt": current_prompt(), "model": current_model_id(), "params": params}


def show_everyone(page: str | None = None) -> None:
    """The sidebar's button: send the class to this page as the teacher sees it."""
    require_teacher()
    running = teachers_class()
    if running is not None:
        class_store().show_everyone(running[0], teachers_view(page))
        forget_pulses()


def class_of_session() -> int | None:
    """The class this session belongs to, as teacher or as student."""
    running = teachers_class()
    if running is not None:
        return running[0]
    seat = my_seat()
    return seat.class_id if seat else None
