"""Generate: watch the model write, one token at a time, and see what it was choosing between."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import time

import streamlit as st

import ui
from gptcore import Step
from gptcore.footprint import batched_generation_bytes
from gptcore.generation import split_generated_text
from ui.charts.generation import step_figure
from ui.chips import text_html
from ui.decoding_controls import Settings, read_controls
from ui.readings import sampling_note
from ui.tables import steps_frame

GENERATE_REQUESTED = "generate_requested"  # plain session key set by the Generate button
RESULT_KEY = "generate_steps_result"  # plain session key: survives reruns and page switches
STEP_KEY = "generate_step"  # plain session key: the step shown; a new run starts at step 1
LINK_RUN_KEY = "generate_link_run"  # plain session key: a link's generation has been run for this session
LIVE_PROMPT_CHARS = 1_500  # while streaming, show only the prompt's tail: the page resends the text every step
LIVE_CHART_INTERVAL_S = 0.4  # redraw the live chart at most this often while streaming


def run_generation(prompt_ids: list[int], settings: Settings, first_step: int | None = 1) -> None:
    """Generate step by step, redrawing the text and the latest step's chart as each token arrives.

    The steps are saved in the session after every token, so a student who interrupts the run
    (by touching any control) keeps what was written so far. The step shown afterwards is
    ``first_step``, or the link's step when None.
    """
    model = ui.current_model()
    steps: list[Step] = []
    if first_step is not None:
        st.session_state[STEP_KEY] = first_step  # the slider is refilled from this key: no stale step
    st.session_state[RESULT_KEY] = {
        "model_id": ui.current_model_id(),
        "prompt_ids": tuple(prompt_ids),
        "settings": settings,
        "steps": steps,
    }
    # The class's generations run together: each step feeds every student's newest token in one pass.
    job = ui.generation_job(
        model,
        ui.current_model_id(),
        tuple(prompt_ids),  # cropped to the context when it joins the batch
        max_new_tokens=settings.max_new_tokens,
        context_size=model.cfg.context_length,
        temperature=0.0 if settings.greedy else settings.temperature,
        top_k=None if settings.greedy else settings.top_k,
        top_p=None if settings.greedy else settings.top_p,
        seed=settings.seed,
        num_candidates=settings.num_candidates,
    )
    prompt_text, _ = split_generated_text(prompt_ids, [])
    shown_prompt = prompt_text if len(prompt_text) <= LIVE_PROMPT_CHARS else "…" + prompt_text[-LIVE_PROMPT_CHARS:]
    wait_slot, progress_slot, text_slot, chart_slot = st.empty(), st.empty(), st.empty(), st.empty()
    # The KV cache lives from the first token to the last: its memory is reserved for the whole run.
    needed = batched_generation_bytes(model.cfg, len(prompt_ids) + settings.max_new_tokens)
    with ui.reserving(needed, f"Writing {settings.max_new_tokens} tokens after {len(prompt_ids)}", wait_slot):
        iterator = ui.generated_steps(job, wait_slot)
        try:
            write_steps(iterator, steps, settings, shown_prompt, (wait_slot, progress_slot, text_slot, chart_slot))
        finally:
            iterator.close()  # a student who left mid-run takes their sequence out of the batch
    for slot in (wait_slot, progress_slot, text_slot, chart_slot):
        slot.empty()  # the finished view below replaces the live one


def write_steps(iterator, steps: list[Step], settings: Settings, shown_prompt: str, slots: tuple) -> None:
    """Draw the text and (now and then) the step's chart as the batch hands over each step."""
    _, progress_slot, text_slot, chart_slot = slots
    last_chart_time = 0.0
    for arrived in iterator:  # every step written since the last drawing: one drawing catches up
        steps.extend(arrived)
        step = arrived[-1]
        _, generated_text = split_generated_text([], [s.token_id for s in steps])
        progress_slot.progress(
            len(steps) / settings.max_new_tokens, text=f"Token {len(steps)} of {settings.max_new_tokens}"
        )
        text_slot.html(text_html(shown_prompt, generated_text))
        # Each new chart is a new element the browser must draw: at most a few per second stay readable.
        # Building one costs the server CPU time that waiting students need, so a busy class sees
        # fewer live charts (the finished view below has every step's chart).
        if time.monotonic() - last_chart_time >= LIVE_CHART_INTERVAL_S * (1 + ui.busy_sessions()):
            ui.plot(step_figure(step), key=f"generate_live_chart_{step.index}", where=chart_slot)
            last_chart_time = time.monotonic()


def current_result(prompt_ids: list[int]) -> dict | None:
    """The stored generation, if it belongs to this prompt and model; a stale one is discarded."""
    result = st.session_state.get(RESULT_KEY)
    if result is None:
        return None
    if result["model_id"] != ui.current_model_id() or result["prompt_ids"] != tuple(prompt_ids):
        del st.session_state[RESULT_KEY]
        st.session_state[STEP_KEY] = 1
        return None
    return result if result["steps"] else None


def show_result(result: dict) -> None:
    steps: list[Step] = result["steps"]
    settings: Settings = result["settings"]
    prompt_text, generated_text = split_generated_text(result["prompt_ids"], [step.token_id for step in steps])

    st.subheader("The text")
    st.html(text_html(prompt_text, generated_text))
    finished = (
        "" if len(steps) == settings.max_new_tokens else f" (stopped early: {len(steps)} of {settings.max_new_tokens})"
    )
    st.caption(
        f"Grey: your prompt. Highlighted: the {len(steps)} tokens the model wrote{finished}, decoding by "
        f"{settings.describe()}. Every character is shown as it is, spaces and symbols included."
    )
    with st.expander("Plain text to copy"):
        st.code(prompt_text + generated_text, language=None, wrap_lines=True)

    st.subheader("Step by step")
    step_number = 1
    if len(steps) > 1:
        step_number = ui.remembered_number(st.slider, "Step", STEP_KEY, 1, 1, len(steps), link="step")
    figure = step_figure(steps[step_number - 1])
    ui.plot(figure, key="generate_step_chart")
    st.caption(
        "The most likely next tokens at this step; red is the token that was chosen. "
        + (
            "Greedy decoding takes the longest bar, and these are the model's own probabilities."
            if settings.greedy
            else sampling_note(settings)
        )
    )
    ui.figure_download(figure, f"generation_step_{step_number}.html", key="generate_step_chart_html")

    frame = steps_frame(steps)
    st.dataframe(
        ui.as_percentages(frame),
        width="stretch",
        hide_index=True,
        column_config={"probability": ui.percent_column()},
        key="generate_steps_table",
    )
    st.caption("One row per new token: its probability when it was chosen, and its rank (1 = most likely).")
    ui.csv_download(frame, "generation_steps.csv")


st.title("Generate")
ui.explain(
    "A GPT writes one token at a time: it reads the text so far, turns its last position into a probability "
    "for every token in the vocabulary, picks one, appends it, and repeats. *Greedy* decoding always takes the "
    "most likely token; *sampling* draws at random from the probabilities, which temperature, top-k and top-p "
    "reshape first. Press **Generate** and watch each choice."
)

ids = ui.prompt_token_ids()
context_length = ui.current_model().cfg.context_length
if len(ids) > context_length:
    st.info(
        f"The prompt has {len(ids)} tokens but this model reads at most {context_length}: at each step it sees "
        f"only the last {context_length} tokens of the text so far."
    )
chosen_settings = read_controls()
# The click is kept in a plain session key by a callback rather than read from st.button's return
# value, which lasts one script run only and would be lost if this run is restarted.
st.button(
    "Generate",
    key="generate_button",
    type="primary",
    on_click=st.session_state.update,
    args=({GENERATE_REQUESTED: True},),
)
if st.session_state.pop(GENERATE_REQUESTED, False):
    run_generation(ids, chosen_settings)
elif ui.opened_with("step") and not st.session_state.get(LINK_RUN_KEY) and current_result(ids) is None:
    ui.starts_from_link(LINK_RUN_KEY)  # a new link (the teacher's) runs its own step
    # A shared link to a step ("look at step 5") writes the same text here: greedy decoding, or
    # sampling with the link's seed, draws the same tokens for everyone.
    st.session_state[LINK_RUN_KEY] = True
    run_generation(ids, chosen_settings, first_step=None)
stored = current_result(ids)
if stored is not None:
    show_result(stored)
else:
    st.caption("Nothing generated yet for this prompt and model: choose the settings and press **Generate**.")
