"""The sidebar's model picker: switching models, and fetching OpenAI's weights on request.

Picking a model that cannot be used yet (its weights are not downloaded, or it would not fit in
memory) does not switch: the session keeps its model, so every page keeps working, and the
picked one waits in WANTED_KEY with a Download button or the reason it cannot be loaded. When its
download finishes (in this session or another), the session switches to it.
"""

from __future__ import annotations

import streamlit as st

from .catalog import ModelChoice, all_choices, find_choice, is_ready, picker_label
from .downloads import download_registry
from .memory import format_bytes
from .models import MODEL_KEY, current_choice, current_model_id, refusal

WANTED_KEY = "model_wanted"  # plain session key: a picked model that is not in use yet
_BOX_KEY = "_model_box"


def choose_model(model_id: object) -> None:
    """Switch to ``model_id`` if it is here and fits in memory; otherwise keep it as the wanted model."""
    choice = find_choice(model_id)
    if choice is None:
        return
    if is_ready(choice) and refusal(choice) is None:
        st.session_state[MODEL_KEY] = choice.model_id
        st.session_state.pop(WANTED_KEY, None)
        st.query_params["model"] = choice.model_id
    else:
        st.session_state[WANTED_KEY] = choice.model_id


def wanted_choice() -> ModelChoice | None:
    """The picked model this session is waiting for, if any."""
    choice = find_choice(st.session_state.get(WANTED_KEY))
    if choice is None or choice.model_id == current_model_id():
        st.session_state.pop(WANTED_KEY, None)
        return None
    return choice


def _on_pick() -> None:
    choose_model(st.session_state[_BOX_KEY])


def _start_download(model_id: str) -> None:
    choice = find_choice(model_id)
    if choice is not None and choice.hub_name is not None and refusal(choice) is None:
        download_registry().start(choice.hub_name, choice.short_name, choice.download_bytes)


def render_model_picker() -> None:
    """The Model selectbox, what the model is, and for a model not usable yet: why, and a Download button."""
    wanted = wanted_choice()
    if wanted is not None and is_ready(wanted) and refusal(wanted) is None:
        choose_model(wanted.model_id)  # its download has finished, here or in another session
        wanted = None
    shown = wanted or current_choice()
    choices = all_choices()
    choices.setdefault(shown.model_id, shown)
    labels = {model_id: picker_label(choice) for model_id, choice in choices.items()}  # fixed for this run
    st.session_state[_BOX_KEY] = shown.model_id
    st.selectbox(
        "Model",
        options=list(labels),
        format_func=labels.__getitem__,
        key=_BOX_KEY,
        on_change=_on_pick,
    )
    if wanted is None:
        st.caption(shown.about)
    else:
        _render_waiting(wanted)


def _render_waiting(choice: ModelChoice) -> None:
    using = current_choice().label
    message = refusal(choice)
    if message is not None:
        st.error(message)
        st.caption(f"Still using {using}.")
        return
    job = download_registry().get(choice.hub_name) if choice.hub_name else None
    if job is not None and job.running:
        st.caption(f"Downloading {choice.short_name} for everyone on this server. You keep using {using} meanwhile.")
        _download_progress(choice.hub_name)
        return
    if job is not None and job.state == "failed":
        st.error(job.error.replace("\n", "  \n"))  # its lines (the files' addresses) as lines in Markdown
    elif job is not None and job.state == "cancelled":
        st.info("Download cancelled.")
    st.caption(
        f"{choice.short_name}'s weights are not on this server yet ({format_bytes(choice.download_bytes)} to "
        f"download). You keep using {using} until they are here."
    )
    st.button(
        f"Download {choice.short_name}",
        key="download_model_button",
        type="primary",
        on_click=_start_download,
        args=(choice.model_id,),
    )


@st.fragment(run_every=1.0)
def _download_progress(hub_name: str) -> None:
    """Progress bar and Cancel button, redrawn every second without rerunning the page."""
    registry = download_registry()
    job = registry.get(hub_name)
    if job is None or not job.running:
        st.rerun()  # finished, failed or cancelled: the whole app redraws to show it (and switch model)
    st.progress(job.fraction, text=job.progress_text())
    st.button(
        "Cancel download",
        key="cancel_download_button",
        on_click=registry.cancel,
        args=(hub_name,),
        disabled=job.cancel.is_set(),
    )
