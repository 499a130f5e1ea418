"""Choices that outlive a page visit and travel in the page's link.

Streamlit forgets a widget's value when its page is not shown, so each choice here lives in a plain
session key and the widget is refilled from it. A choice may also have a link name: the address bar
then always carries it (``?layer=0&head=3``), and a session opened from such a link starts there.
That is how a teacher shares "layer 0, head 3, step 5" as one link.

Streamlit keeps a widget's format_func for as long as the session lives. A function written in a
page refers to the page's globals, and so to its trace, so a page's format function is turned into
a plain lookup table at once (see ui/widgets.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import streamlit as st

LINK_KEY = "_opened_with"  # plain session key: the query parameters of the address the session opened
# Session keys that start from the opening link's parameters, filled as pages use them: reopen_with
# forgets them, so they start again from a new set of parameters.
_FROM_LINK: set[str] = set()


def keep_opening_link() -> None:
    """On a session's first run, keep the address's parameters: its remembered choices start from them."""
    if LINK_KEY not in st.session_state:
        st.session_state[LINK_KEY] = {name: st.query_params.get(name) for name in st.query_params}


def opened_with(name: str) -> str | None:
    """The value of ``name`` in the address this session was opened with, if it had one."""
    return st.session_state.get(LINK_KEY, {}).get(name)


def starts_from_link(state_key: str) -> None:
    """Declare a session key whose first value comes from the opening link (reopen_with resets it)."""
    _FROM_LINK.add(state_key)


def reopen_with(params: dict[str, str]) -> None:
    """Start this session's linked choices again from ``params``, as if it had just opened a link with
    them: how a student following the teacher gets the teacher's layer, head, step and edits."""
    st.session_state[LINK_KEY] = dict(params)
    for state_key in _FROM_LINK:
        st.session_state.pop(state_key, None)


def put_in_link(name: str, value: object) -> None:
    text = value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
    if st.query_params.get(name) != text:  # writing the same value again would still send a message
        st.query_params[name] = text


def option_names(options: Sequence, name: Callable[[object], str]) -> Callable[[object], str]:
    """A format_func for a widget that does not keep ``name`` (a page's lambda): a lookup table of its names."""
    return {option: name(option) for option in options}.__getitem__


def remembered_choice(
    widget: Callable, label: str, options: list, state_key: str, link: str | None = None, **kwargs
) -> object:
    """A selectbox, radio or select_slider whose choice lives in a plain session key.

    A remembered choice that no longer exists (the new model has fewer layers) moves to the
    nearest end of the options. With ``link``, a session opened from a link starts at the link's
    option (matched by its text, "3" for 3), and the address keeps the current choice.
    """
    if link:
        starts_from_link(state_key)
    if state_key not in st.session_state and link:
        by_text = {str(option): option for option in options}
        linked = opened_with(link)
        if linked in by_text:
            st.session_state[state_key] = by_text[linked]
    widget_key = f"{state_key}_box"
    value = st.session_state.get(state_key, options[0])
    if value not in options:
        too_big = isinstance(value, int) and isinstance(options[-1], int) and value > options[-1]
        value = options[-1] if too_big else options[0]
    st.session_state[state_key] = value
    st.session_state[widget_key] = value

    if "format_func" in kwargs:
        kwargs["format_func"] = option_names(options, kwargs["format_func"])
    chosen = widget(label, options, key=widget_key, on_change=_remember, args=(state_key, widget_key), **kwargs)
    if link:
        put_in_link(link, chosen)
    return chosen


def remembered_number(
    widget: Callable,
    label: str,
    state_key: str,
    default: int | float,
    min_value: int | float,
    max_value: int | float,
    link: str | None = None,
    **kwargs,
) -> int | float:
    """A slider or number_input over min_value..max_value whose value lives in a plain session key.

    A linked value that is not a number is ignored; one out of range is moved to the nearest end.
    """
    if link:
        starts_from_link(state_key)
    if state_key not in st.session_state:
        st.session_state[state_key] = _linked_number(link, type(default), min_value, max_value, default)
    widget_key = f"{state_key}_box"
    value = type(default)(min(max(st.session_state[state_key], min_value), max_value))
    st.session_state[state_key] = value
    st.session_state[widget_key] = value
    chosen = widget(
        label,
        min_value=min_value,
        max_value=max_value,
        key=widget_key,
        on_change=_remember,
        args=(state_key, widget_key),
        **kwargs,
    )
    if link:
        put_in_link(link, chosen)
    return chosen


def _linked_number(link: str | None, kind: type, low: float, high: float, default: int | float) -> int | float:
    text = opened_with(link) if link else None
    try:
        number = float(text) if text is not None else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        return default
    return kind(min(max(number, low), high))


def _remember(state_key: str, widget_key: str) -> None:
    st.session_state[state_key] = st.session_state[widget_key]
