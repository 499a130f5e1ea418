"""The sidebar's "Your own model": a student uploads the model they built with the book, and the class can pick it.

The upload (chapter 5's ``model.pth`` or ``model_and_optimizer.pth``, or a ``.safetensors`` file) is
written to a hidden folder beside the checkpoints, loaded and checked as gptcore.local.load_model_file
does, then saved as an ordinary checkpoint: it appears in everyone's Model list, and this session
switches to it. Anything wrong is said in plain words and changes nothing: the session keeps its
model, and the half-written file is deleted.

Two server settings: GPT_EXPLORER_STUDENT_UPLOADS=off offers only the teacher's files in the
checkpoint folder, and GPT_EXPLORER_MAX_UPLOAD_MB sets the size limit (2,048 MB by default).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path

import streamlit as st

from gptcore import save_checkpoint
from gptcore.local import MODEL_FILE_SUFFIXES, load_model_file
from gptcore.tokenizer import N_VOCAB

from .catalog import CHECKPOINT_PREFIX, checkpoint_folder, refresh_checkpoints
from .memory import format_bytes
from .picker import choose_model
from .run_names import name_slug, unique_path, writable
from .turns import reserving

logger = logging.getLogger(__name__)

UPLOADS_ENV = "GPT_EXPLORER_STUDENT_UPLOADS"  # "off": only the teacher's files in the checkpoint folder
MAX_UPLOAD_ENV = "GPT_EXPLORER_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 2048
UPLOAD_FOLDER = ".uploads"  # inside the checkpoint folder: the picker lists only the folder's own files
LOADING_FACTOR = 2  # loading holds the file's tensors and the model built from them at once
DONE_KEY = "_own_model_done"  # plain session key: the upload already handled, so a rerun does not redo it
HEADS_KEY = "own_model_heads"


def uploads_allowed() -> bool:
    return os.environ.get(UPLOADS_ENV, "on").strip().lower() not in ("off", "0", "no", "false")


def max_upload_mb() -> int:
    try:
        return max(1, int(os.environ.get(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB)))
    except ValueError:
        return DEFAULT_MAX_UPLOAD_MB


def limit_text(megabytes: int) -> str:
    """'2 GB' for 2,048 MB, as the uploader itself counts (1 GB = 1,024 MB)."""
    return f"{megabytes / 1024:g} GB" if megabytes >= 1024 else f"{megabytes} MB"


def render_own_model() -> None:
    """The expander under the Model list."""
    with st.expander("Your own model"):
        if not uploads_allowed():
            st.caption(
                "On this server your teacher provides the models: theirs are in the Model list above as "
                "checkpoints. Ask them to add yours."
            )
            return
        limit = max_upload_mb()
        st.caption(
            "The model you built with the book: chapter 5's model.pth or model_and_optimizer.pth, or a "
            f".safetensors file, up to {limit_text(limit)}. It joins the Model list for the whole class."
        )
        upload = st.file_uploader(
            "Model file", type=[suffix.lstrip(".") for suffix in MODEL_FILE_SUFFIXES], key="own_model_upload",
            max_upload_size=limit,
        )  # fmt: skip
        heads = st.number_input(
            "Attention heads (only for a width GPT-2 does not have)", 0, 256, 0, key=HEADS_KEY,
            help="GPT-2's widths tell their heads (768: 12, 1024: 16, 1280: 20, 1600: 25). For another width, "
            "give n_heads from your config; 0 leaves it to the width.",
        )  # fmt: skip
        if upload is None or st.session_state.get(DONE_KEY) == (upload.file_id, heads):
            return
        st.session_state[DONE_KEY] = (upload.file_id, heads)
        model_id, problem = add_uploaded_model(upload.name, upload.getbuffer(), int(heads) or None)
        if problem:
            st.error(problem)
        else:
            st.success(f"Added to the Model list as {model_id.removeprefix(CHECKPOINT_PREFIX)}, and now in use.")


def add_uploaded_model(file_name: str, data, n_heads: int | None = None) -> tuple[str | None, str | None]:
    """Validate an upload and save it as a checkpoint: (its picker id, None) or (None, what is wrong)."""
    size, megabytes = len(data), max_upload_mb()
    if size > megabytes * 2**20:
        return None, f"{file_name} is {format_bytes(size)}; this server takes models up to {limit_text(megabytes)}."
    if Path(file_name).suffix.lower() not in MODEL_FILE_SUFFIXES:
        return None, f"{file_name} is not a model file: upload a .pth (as chapter 5 saves it) or a .safetensors file."
    folder = checkpoint_folder()
    if not writable(folder / UPLOAD_FOLDER):
        return (
            None,
            "This server's checkpoint folder cannot be written to, so uploads cannot be kept. Tell your teacher.",
        )
    # A name of our own making: the student's file name never becomes a path.
    received = folder / UPLOAD_FOLDER / f"{uuid.uuid4().hex}{Path(file_name).suffix.lower()}"
    try:
        received.write_bytes(data)  # a memoryview of the upload: written without a second copy in memory
        with reserving(LOADING_FACTOR * size, f"Checking {file_name}", advice="Try again in a minute."):
            model = load_model_file(received, n_heads=n_heads)
            if model.cfg.vocab_size != N_VOCAB:
                return None, (
                    f"{file_name} has a vocabulary of {model.cfg.vocab_size:,} tokens, but the explorer reads text "
                    f"with GPT-2's tokenizer ({N_VOCAB:,} tokens), as the book's models do: this one was built "
                    "another way."
                )
            path = save_checkpoint(
                model, unique_path(folder, f"uploaded-{name_slug(Path(file_name).stem)}"),
                source=f"uploaded as {_plain(file_name)}",
            )  # fmt: skip
    except ValueError as error:
        return None, f"{file_name} could not be used: {_without_folder(str(error), received)}"
    finally:
        received.unlink(missing_ok=True)
    refresh_checkpoints()
    model_id = CHECKPOINT_PREFIX + path.name
    choose_model(model_id)
    return model_id, None


def _plain(file_name: str) -> str:
    return re.sub(r"[^\w .()-]", "_", file_name)[:80]


def _without_folder(message: str, received: Path) -> str:
    """The loader's message in the sidebar's terms: no server path, and where to give n_heads."""
    message = message.replace(str(received), "the file").replace(received.name, "the file")
    return message.replace("pass cfg with n_heads", "give its number of attention heads above")
