"""Who is the teacher: a passcode unlocks the teacher's actions for one browser session.

The passcode comes from ``teacher_passcode`` in .streamlit/secrets.toml or from
GPT_EXPLORER_TEACHER_PASSCODE. It is compared in constant time (hmac.compare_digest), a session
gets at most five wrong tries a minute, and it is never put in a URL or a log line.

Being the teacher is a plain session key that no widget has. Streamlit sets session keys from a
browser's messages only for the widgets the script drew, so no crafted message or link can set
it; and every teacher action checks it again (``require_teacher``) rather than trusting that
only the teacher saw the button.
"""

from __future__ import annotations

import hmac
import logging
import os
import time

import streamlit as st

from .connection import secret

PASSCODE_ENV = "GPT_EXPLORER_TEACHER_PASSCODE"
TEACHER_KEY = "_teacher_unlocked"  # plain session key, never a widget's
_FAILURES_KEY = "_teacher_failures"  # times of this session's wrong tries
MAX_TRIES = 5
TRIES_WINDOW_S = 60.0
log = logging.getLogger(__name__)


class NotTeacherError(PermissionError):
    """A teacher action reached from a session that has not given the passcode."""


def configured_passcode() -> str | None:
    passcode = secret("teacher_passcode") or os.environ.get(PASSCODE_ENV)
    return str(passcode) if passcode else None


def is_teacher() -> bool:
    try:
        return st.session_state.get(TEACHER_KEY) is True
    except KeyError:  # a browser sent a widget value under this key's name: Streamlit will not read it
        return False


def require_teacher() -> None:
    if not is_teacher():
        raise NotTeacherError("this is the teacher's action; unlock the Teacher's console first")


def seconds_until_next_try(now: float | None = None) -> float:
    """0 while the session may try the passcode; otherwise how long until its oldest recent try expires."""
    now = time.time() if now is None else now
    recent = [t for t in st.session_state.get(_FAILURES_KEY, []) if now - t < TRIES_WINDOW_S]
    st.session_state[_FAILURES_KEY] = recent
    return 0.0 if len(recent) < MAX_TRIES else TRIES_WINDOW_S - (now - recent[0])


def try_passcode(typed: str) -> str | None:
    """Unlock the console if ``typed`` is the passcode; otherwise the message to show."""
    expected = configured_passcode()
    if expected is None:
        return "No passcode is set on this server."
    wait = seconds_until_next_try()
    if wait > 0:
        return f"Too many wrong tries. Try again in {wait:.0f} s."
    if hmac.compare_digest(typed.encode(), expected.encode()):
        st.session_state[TEACHER_KEY] = True
        st.session_state.pop(_FAILURES_KEY, None)
        log.info("a session unlocked the teacher's console")
        return None
    st.session_state.setdefault(_FAILURES_KEY, []).append(time.time())
    log.warning("a wrong teacher passcode was tried")  # never the passcode or what was typed
    left = MAX_TRIES - len(st.session_state[_FAILURES_KEY])
    return f"That is not the passcode. {left} more tr{'y' if left == 1 else 'ies'} this minute."


def lock() -> None:
    st.session_state.pop(TEACHER_KEY, None)
