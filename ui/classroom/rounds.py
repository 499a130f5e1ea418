"""'Predict the next token' rounds: the student's guess, the teacher's open and reveal, and what the reveal shows.

A round is scored against its own model and prompt (the teacher's, when it opened), so every
student is scored alike whatever model their own sidebar shows.
"""

from __future__ import annotations

import streamlit as st

from gptcore.guessing import guessed_next_token, probability_and_rank, top_tokens
from gptcore.tokenizer import get_tokenizer, token_label

from ..charts.classroom import class_guesses_figure, model_top_figure
from ..display import plot, shared_figure, side_by_side
from ..figures import percent
from ..models import current_model_id, get_model
from ..traces import get_trace
from .connection import class_store
from .membership import CLASS_PAGE, POLL_S, class_pulse, forget_pulses, show_everyone, teachers_class
from .store import ClassError, Round, Score, Seat, check_guess
from .teacher import require_teacher

TOP = 10
_GUESS_MESSAGE_KEY = "_class_guess_message"  # what the last Send said, shown once


def round_token_ids(found: Round) -> tuple[int, ...]:
    context = get_model(found.model_id).cfg.context_length
    return tuple(get_tokenizer().encode(found.prompt)[-context:])


# --- the student's side --------------------------------------------------------------------------


def guess_form(found: Round, seat: Seat) -> None:
    """The guess box; the last guess sent counts, and a mistake is said plainly."""
    with st.form(f"guess_{found.id}", clear_on_submit=True):
        st.text_input("What comes next? One word, or the start of one", max_chars=60, key="class_guess")
        st.form_submit_button(
            "Send my guess", type="primary", key="class_guess_button", on_click=_send_guess, args=(found, seat)
        )
    said = st.session_state.pop(_GUESS_MESSAGE_KEY, None)
    if said:
        (st.error if said[0] == "error" else st.success)(said[1])
    mine = next((a for a in class_store().answers_of(found.id) if a.student_id == seat.student_id), None)
    if mine is not None:
        st.caption(f"Your guess now: “{mine.guess}” ({token_label(mine.token_id)}). The last one you send counts.")


def _send_guess(found: Round, seat: Seat) -> None:
    guess = st.session_state.get("class_guess", "")
    try:
        check_guess(guess)
        token_id, length = guessed_next_token(found.prompt, guess)
        class_store().submit(found.id, seat.student_id, guess, token_id)
    except ClassError as error:
        st.session_state[_GUESS_MESSAGE_KEY] = ("error", str(error))
        return
    more = f" (the first of its {length} tokens: the model predicts one token at a time)" if length > 1 else ""
    st.session_state[_GUESS_MESSAGE_KEY] = (
        "success",
        f"Sent: “{guess.strip()}”, read as the token {token_label(token_id)}{more}. You can change it.",
    )


def reveal_view(found: Round, student_id: int | None) -> None:
    """The model's top 10 beside the class's guesses; the student's rank and probability; the score so far."""
    store = class_store()
    given = store.answers_of(found.id)
    mine = next((a for a in given if a.student_id == student_id), None)
    left, right = side_by_side()
    with left:
        st.markdown(f"**The model's top {TOP}** ({found.model_id})")
        highlight = mine.token_id if mine else None
        top = shared_figure(
            ("class top", found.id, highlight), lambda: model_top_figure(found.top_tokens or [], highlight)
        )
        plot(top, key=f"class_top_{found.id}", shared=True)
    with right:
        st.markdown(f"**What the class guessed** ({len(given)} guess{'es' if len(given) != 1 else ''})")
        if given:
            labels = [token_label(a.token_id) for a in given]
            guesses = shared_figure(("class guesses", found.id, tuple(labels)), lambda: class_guesses_figure(labels))
            plot(guesses, key=f"class_hist_{found.id}", shared=True)
        else:
            st.caption("Nobody guessed in this round.")
    if mine is not None and mine.probability is not None:
        st.info(
            f"Your guess “{mine.guess}” ({token_label(mine.token_id)}) is the model's choice number **{mine.rank:,}**, "
            f"with probability **{percent(mine.probability)}**."
        )
    score = store.score(found.class_id, student_id)
    if score.rounds and score.top_choice > 0:
        st.markdown(score_sentence(score, student_id is not None))


def score_sentence(score: Score, for_student: bool) -> str:
    """The class's score over the revealed rounds, against always picking the model's first choice."""
    rounds = f"{score.rounds} round{'s' if score.rounds != 1 else ''}"
    text = (
        f"**Score over {rounds}**, each guess scoring the probability the model gives it: always guessing the "
        f"model's first choice scores {percent(score.top_choice)}; the class's average is "
        f"{percent(score.class_mean)}, {score.class_mean / score.top_choice:.0%} of that"
    )
    if for_student:
        text += f"; yours is {percent(score.yours)}, {score.yours / score.top_choice:.0%}"
    return text + "."


@st.fragment(run_every=POLL_S)
def poll_round(class_id: int, drawn: tuple[int, bool] | None) -> None:
    """Redraw the page when the round it shows opens, closes or is followed by another: within POLL_S
    seconds of the teacher's click, whether or not the student follows the teacher."""
    pulse = class_pulse(class_id)
    if ((pulse.round_id, pulse.round_open) if pulse.round_id is not None else None) != drawn:
        st.rerun(scope="app")


# --- the teacher's side --------------------------------------------------------------------------


def open_round(prompt: str) -> str | None:
    """Open a round on ``prompt`` with the teacher's model, and send the class to the Class page;
    the message to show if it cannot be opened."""
    require_teacher()
    running = teachers_class()
    if running is None:
        return "Start a class first."
    try:
        class_store().open_round(running[0], prompt, current_model_id())
    except ClassError as error:
        return str(error)
    show_everyone(CLASS_PAGE)
    return None


def reveal_round(found: Round) -> None:
    """Close the round: the model's distribution for its prompt scores every guess."""
    require_teacher()
    probabilities = get_trace(found.model_id, round_token_ids(found)).probabilities()
    top = [(token, token_label(token), p) for token, p in top_tokens(probabilities, TOP)]
    class_store().reveal(found.id, top, lambda token: probability_and_rank(probabilities, token))
    forget_pulses()
