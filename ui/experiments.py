"""The Experiments page's state: which parts of the model a student switched off, kept as short codes.

An edit's code is what the link carries, so a teacher can share an experiment:
``h0.3`` head 3 of layer 0, ``n5.1021`` neuron 1021 of layer 5, ``a2`` / ``f2`` the attention /
feed-forward of block 2, ``s11`` the shortcuts of block 11 (``?edits=h0.3,s11``).
"""

from __future__ import annotations

import re

import streamlit as st

from gptcore import GPTConfig, HeadAblation, NeuronAblation, ShortcutRemoval, SublayerAblation
from gptcore.edits import Edit, check_edits

from .remembered import opened_with, put_in_link, starts_from_link

EDITS_KEY = "experiment_edits"  # plain session key: the codes of this session's edits
_OPEN_REQUESTED = "experiments_open_requested"  # set by a button's callback, acted on in the script
_CODE = re.compile(r"^(h)(\d+)\.(\d+)$|^(n)(\d+)\.(\d+)$|^([afs])(\d+)$")


def edit_of(code: str) -> Edit | None:
    """The edit a code stands for, or None for a code that is not one."""
    match = _CODE.match(code.strip())
    if match is None:
        return None
    if match[1]:
        return HeadAblation(int(match[2]), int(match[3]))
    if match[4]:
        return NeuronAblation(int(match[5]), int(match[6]))
    kind, layer = match[7], int(match[8])
    if kind == "s":
        return ShortcutRemoval(layer)
    return SublayerAblation(layer, "attention" if kind == "a" else "feedforward")


def code_of(edit: Edit) -> str:
    if isinstance(edit, HeadAblation):
        return f"h{edit.layer}.{edit.head}"
    if isinstance(edit, NeuronAblation):
        return f"n{edit.layer}.{edit.neuron}"
    if isinstance(edit, ShortcutRemoval):
        return f"s{edit.layer}"
    return f"{'a' if edit.sublayer == 'attention' else 'f'}{edit.layer}"


def describe(edit: Edit) -> str:
    """'head 3 of layer 0' and so on, for people."""
    if isinstance(edit, HeadAblation):
        return f"head {edit.head} of layer {edit.layer}"
    if isinstance(edit, NeuronAblation):
        return f"neuron {edit.neuron} of layer {edit.layer}"
    if isinstance(edit, ShortcutRemoval):
        return f"the shortcuts of block {edit.layer}"
    return f"the {edit.sublayer} of block {edit.layer}"


def current_edits(cfg: GPTConfig) -> tuple[list[Edit], list[str]]:
    """This session's edits that fit the model, and a message for each code that does not (a link's, or a
    bigger model's)."""
    starts_from_link(EDITS_KEY)
    if EDITS_KEY not in st.session_state:
        st.session_state[EDITS_KEY] = [code for code in (opened_with("edits") or "").split(",") if code.strip()]
    edits, problems = [], []
    for code in st.session_state[EDITS_KEY]:
        edit = edit_of(code)
        if edit is None:
            problems.append(f"'{code}' is not an edit (e.g. h0.3, n5.1021, a2, f2, s11)")
            continue
        try:
            check_edits(cfg, [edit])
        except ValueError as error:
            problems.append(str(error))
            continue
        edits.append(edit)
    return edits, problems


def set_edits(edits: list[Edit]) -> None:
    codes = list(dict.fromkeys(code_of(edit) for edit in edits))  # in order, once each
    st.session_state[EDITS_KEY] = codes
    if codes:
        put_in_link("edits", ",".join(codes))
    else:
        st.query_params.pop("edits", None)


def add_edit(edit: Edit) -> None:
    codes = st.session_state.get(EDITS_KEY, [])
    if code_of(edit) not in codes:
        st.session_state[EDITS_KEY] = [*codes, code_of(edit)]


def switch_off_in_experiments(edits: list[Edit]) -> None:
    """A button's on_click on another page: add ``edits`` to the experiment, and open the Experiments page
    on this rerun (a callback cannot switch pages itself)."""
    for edit in edits:
        add_edit(edit)
    st.session_state[_OPEN_REQUESTED] = True


def open_experiments_if_asked() -> None:
    if st.session_state.pop(_OPEN_REQUESTED, False):
        st.switch_page("pages/experiments.py")
