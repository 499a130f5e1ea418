"""The model a session uses: loading it once per server, and checking it fits in memory first.

Models live on GPT_EXPLORER_DEVICE: ``cpu`` (the default), or ``cuda`` / ``cuda:N`` when this
torch sees that GPU; asked for and absent, the server logs why and uses the CPU. Training copies
the weights into a new model on the CPU (gptcore.training), whatever the device.
"""

from __future__ import annotations

import logging
import os
import weakref

import streamlit as st

from gptcore import GPTModel
from gptcore.device import choose_device
from gptcore.footprint import model_bytes

from .caches import MODELS
from .catalog import DEFAULT_MODEL_ID, ModelChoice, find_choice
from .memory import MEMORY_BUDGET, memory_refusal
from .turns import reserving

logger = logging.getLogger(__name__)

MODEL_KEY = "model_id"  # plain session key: the id of the model this session uses
DEVICE_ENV = "GPT_EXPLORER_DEVICE"

DEVICE, _device_note = choose_device(os.environ.get(DEVICE_ENV, "cpu"))
if _device_note:
    logger.warning("%s=%s: %s", DEVICE_ENV, os.environ.get(DEVICE_ENV), _device_note)
logger.info("models run on %s", DEVICE)

# Models alive in this process, by id: choosing one of them again costs no memory.
_live_models: weakref.WeakValueDictionary[str, GPTModel] = weakref.WeakValueDictionary()


def get_model(model_id: str) -> GPTModel:
    """Build or load a model once per server process; every session shares it, read-only.

    Loading reserves the model's memory in the budget first (two students loading two big models
    at once wait for each other, or the second is told there is no room), and the loaded model's
    parameters count for as long as it lives. Unused models are the budget's to drop when others'
    work needs the room.
    """
    choice = find_choice(model_id)
    if choice is None:
        raise KeyError(f"no model with id {model_id!r}")
    return MODELS.get_or_compute(model_id, lambda: _load(choice))


def _load(choice: ModelChoice) -> GPTModel:
    advice = "Pick a smaller model, or try again once others have finished."
    with reserving(choice.ram_bytes, f"Loading {choice.short_name}", advice=advice):
        model = choice.build().to(DEVICE)  # built on the CPU, then moved (a no-op there)
        MEMORY_BUDGET.hold(model, model_bytes(model.cfg))
    _live_models[choice.model_id] = model
    return model


def forget_model(model_id: str) -> None:
    """Drop a model from the server's cache (its memory goes once no page holds it)."""
    MODELS.forget(model_id)


def is_loaded(model_id: str) -> bool:
    return model_id in _live_models


def refusal(choice: ModelChoice) -> str | None:
    """Why ``choice`` cannot be loaded now (not enough free memory), or None."""
    if not choice.ram_bytes or is_loaded(choice.model_id):
        return None
    return memory_refusal(choice.short_name, choice.ram_bytes)


def current_model_id() -> str:
    model_id = st.session_state.get(MODEL_KEY, DEFAULT_MODEL_ID)
    return model_id if find_choice(model_id) is not None else DEFAULT_MODEL_ID


def current_choice() -> ModelChoice:
    return find_choice(current_model_id()) or find_choice(DEFAULT_MODEL_ID)


def current_model() -> GPTModel:
    """The session's model, with a spinner saying what is happening while it loads.

    A model that fails to load (a damaged file, too little memory after all) gives a message,
    not a traceback, and the session goes back to the default model.
    """
    choice = current_choice()
    with st.spinner(choice.loading_text):
        try:
            return get_model(choice.model_id)
        except Exception as error:
            logger.exception("could not load %s", choice.model_id)
            message = f"Could not load {choice.short_name}: {error}"
            if choice.model_id != DEFAULT_MODEL_ID:
                st.session_state[MODEL_KEY] = DEFAULT_MODEL_ID
                message += f" The app went back to {find_choice(DEFAULT_MODEL_ID).label}; rerun or pick another model."
            st.error(message)
            st.stop()
