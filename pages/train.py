"""Train: watch a model learn from a text of the student's choice, live, then explore what it learned."""

from __future__ import annotations

from ui.frame import ensure_app_frame

ensure_app_frame()  # first, before the heavy imports: see ui/frame.py

import streamlit as st

import ui
from gptcore import get_tokenizer, size_report
from gptcore.training import TRAINING_PRESETS, TrainingSettings
from ui.run_names import preset_description
from ui.run_view import finished_view, live_view
from ui.training import FINE_TUNE_CONTEXT
from ui.uploads import VAL_FRACTION, fit_window, read_text, too_short_message

SOURCE_KEY = "train_source"
PRESET_KEY = "train_preset"
STEPS_KEY = "train_steps"
LEARNING_RATE_KEY = "train_learning_rate"
BATCH_KEY = "train_batch_size"
START_REQUESTED = "train_start_requested"  # set by the Start button's callback

SOURCES = {"new": "A new, untrained model", "sidebar": "The model chosen in the sidebar (fine-tune a copy)"}
DEFAULT_PRESET = "2 layers · 64 dims · context 64"  # the quickest: a default run takes a minute or two on 2 cores
STEP_OPTIONS = [10, 25, 50, 100, 200, 300, 500, 1000, 2000]
DEFAULT_STEPS = 200
LEARNING_RATES = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3]
DEFAULT_LEARNING_RATE = 1e-3
BATCH_SIZES = [1, 2, 4, 8, 16]
DEFAULT_BATCH_SIZE = 8
EVALUATIONS_PER_RUN = 10
SAMPLE_TOKENS = 25
SLOW_PARAMETERS = 50_000_000  # fine-tuning a model bigger than this gets a warning that steps are slow
MAX_SAMPLE_PROMPT_CHARS = 200  # a longer sidebar prompt is not used for the samples


def with_default(state_key: str, value: object) -> None:
    st.session_state.setdefault(state_key, value)


def setting_slider(label: str, options: list, state_key: str, default: object, help: str, **kwargs) -> object:
    """A select_slider for one training setting, starting at its default."""
    with_default(state_key, default)
    return ui.remembered_choice(st.select_slider, label, options, state_key, help=help, **kwargs)


def start(text: str, settings: TrainingSettings, source: str, preset: str) -> None:
    registry = ui.training_registry()
    try:
        if source == "new":
            registry.start(ui.session_run_id(), text, settings, preset=preset)
        else:
            choice = ui.current_choice()
            registry.start(
                ui.session_run_id(),
                text,
                settings,
                base_model=ui.current_model(),
                base_model_id=choice.model_id,
                base_name=choice.short_name,
            )
    except (ui.TrainingRefusedError, ui.TrainingTextError) as error:
        st.error(str(error))
        return
    st.rerun()


# ---------------------------------------------------------------------------------------------


st.title("Train a model")
ui.explain(
    "Training is how a model goes from gibberish to sensible text. Give it a text: it reads windows of it, "
    "guesses every next token, measures how wrong it was (the *loss*) and nudges every weight a little to be "
    "less wrong next time. Watch the loss fall and the samples change. The run goes on while you visit other "
    "pages; when it ends, the trained model appears in the sidebar's Model list, so every page can show "
    "what it learned."
)

current = ui.session_run()
if current is not None and current.running:
    st.info(f"Training {current.name}. You can visit other pages meanwhile; come back here to watch.")
    live_view(current.run_id)
    st.stop()
if current is not None:
    st.subheader("Your last run")
    finished_view(current)
    st.divider()
    st.subheader("Train again")

st.subheader("1. A text to learn from")
text, problem = read_text()
n_tokens = len(get_tokenizer().encode(text)) if text else 0
if problem:
    st.error(problem)
elif text:
    st.caption(f"{len(text):,} characters, {n_tokens:,} tokens. The last 10% is kept aside to measure progress.")

st.subheader("2. A model")
with_default(SOURCE_KEY, "new")
source = ui.remembered_choice(st.radio, "Start from", list(SOURCES), SOURCE_KEY, format_func=SOURCES.get)
with_default(PRESET_KEY, DEFAULT_PRESET if DEFAULT_PRESET in TRAINING_PRESETS else next(iter(TRAINING_PRESETS)))
preset = ui.remembered_choice(
    st.selectbox,
    "Size of the new model",
    list(TRAINING_PRESETS),
    PRESET_KEY,
    format_func=preset_description,
    disabled=source != "new",
)
if source == "new":
    cfg, name = TRAINING_PRESETS[preset], f"a new model ({preset})"
    st.caption("Its weights start random (seed 123), so it starts by writing gibberish.")
else:
    choice = ui.current_choice()
    cfg, name = ui.current_model().cfg, choice.short_name
    st.caption(
        f"Trains a copy of {choice.label} on your text, {min(cfg.context_length, FINE_TUNE_CONTEXT)} tokens at "
        "a time. The original stays as it is for everyone else."
    )
    if size_report(cfg).parameters > SLOW_PARAMETERS:
        st.warning(
            f"{choice.short_name} is big for this server's processor: each step may take several seconds. "
            "Try 25 or 50 steps first, or start from a new model."
        )

st.subheader("3. How long and how fast")
columns = st.columns(3)
with columns[0]:
    steps = setting_slider(
        "Steps", STEP_OPTIONS, STEPS_KEY, DEFAULT_STEPS, "Each step reads one batch and nudges every weight."
    )
with columns[1]:
    learning_rate = setting_slider(
        "Learning rate",
        LEARNING_RATES,
        LEARNING_RATE_KEY,
        DEFAULT_LEARNING_RATE,
        "How big each nudge is. Too small learns slowly; too big makes the loss jump around.",
        format_func=lambda rate: f"{rate:g}",
    )
with columns[2]:
    batch_size = setting_slider(
        "Batch size",
        BATCH_SIZES,
        BATCH_KEY,
        DEFAULT_BATCH_SIZE,
        "Text windows read per step: more gives a steadier step, but each step takes longer.",
    )
full_window = cfg.context_length if source == "new" else min(cfg.context_length, FINE_TUNE_CONTEXT)
# A short text is read in shorter windows rather than refused; only a text too short for any gets a message.
window = fit_window(n_tokens, full_window) if text else full_window
too_short = bool(text) and window is None
window = window or full_window
st.caption(f"Each step reads {batch_size} windows of {window} tokens: {batch_size * window:,} tokens.")
if text and not too_short and window < full_window:
    st.caption(
        f"Your text is short, so the model reads {window}-token windows instead of {full_window}: that leaves "
        "enough windows to learn from and to check itself on. A longer text gives it longer windows."
    )

prompt = ui.current_prompt().strip()
settings = TrainingSettings(
    max_steps=int(steps),
    batch_size=int(batch_size),
    context_length=None if source == "new" and window == cfg.context_length else window,
    learning_rate=float(learning_rate),
    val_fraction=VAL_FRACTION,
    eval_every=max(1, int(steps) // EVALUATIONS_PER_RUN),
    eval_batches=4,
    sample_prompt=prompt if 0 < len(prompt) <= MAX_SAMPLE_PROMPT_CHARS else ui.DEFAULT_PROMPT,
    sample_tokens=SAMPLE_TOKENS,
)
refused = ui.training_refusal(cfg, int(batch_size), window, name)
full = ui.training_registry().full_message()
if too_short:
    st.error(too_short_message(n_tokens, len(text)))
if refused:
    st.error(refused)
if full:
    st.warning(full)
if not text and not problem:
    st.info("Paste a text or upload a .txt file to start.")
st.caption(f"Samples along the way continue the sidebar's prompt: *{settings.sample_prompt[:80]}*.")
# The click is kept in a plain session key by a callback, as on the Generate page: st.button's own
# return value lasts one script run only.
st.button(
    "Start training",
    key="train_start_button",
    type="primary",
    disabled=bool(problem or not text or too_short or refused or full),
    on_click=st.session_state.update,
    args=({START_REQUESTED: True},),
)
if st.session_state.pop(START_REQUESTED, False) and text and not (problem or too_short or refused):
    start(text, settings, source, preset)
