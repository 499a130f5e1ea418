"""'Your own model' in the sidebar: a student uploads the model they built with the book (ui/own_model.py)."""

import io

import pytest
import torch
from conftest import open_app_page

import ui
from gptcore import PRESETS, build_model, checkpoints
from ui import own_model

TINY = "tiny-seed123"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(ui.CHECKPOINTS_ENV, str(tmp_path))
    ui.refresh_checkpoints()
    yield tmp_path
    ui.refresh_checkpoints()


def book_pth(model, with_optimizer: bool = False) -> bytes:
    """A chapter-5 file: the state dict (with the book's mask buffers), or the dict with the optimizer."""
    state = dict(model.state_dict())
    for block in range(model.cfg.n_layers):
        state[f"trf_blocks.{block}.att.mask"] = torch.triu(torch.ones(64, 64), diagonal=1)
    if with_optimizer:
        optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4)
        state = {"model_state_dict": state, "optimizer_state_dict": optimizer.state_dict()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def upload(at, name: str, data: bytes, heads: int = 0):
    at.number_input(key=own_model.HEADS_KEY).set_value(heads)
    at.file_uploader(key="own_model_upload").upload(name, data, "application/octet-stream")
    return at.run()


def test_a_book_model_pth_joins_the_model_list_and_is_used(folder):
    mine = build_model(PRESETS["tiny"], seed=42)  # 32 wide: not a GPT-2 width, so its heads are asked for
    at = open_app_page("pages/home.py", TINY)
    upload(at, "model_and_optimizer.pth", book_pth(mine, with_optimizer=True))
    assert any("give its number of attention heads above" in error.value for error in at.error)
    assert at.session_state["model_id"] == TINY  # nothing changed

    upload(at, "model_and_optimizer.pth", book_pth(mine, with_optimizer=True), heads=4)
    assert not at.exception
    model_id = at.session_state["model_id"]
    assert model_id == "checkpoint:uploaded-model-and-optimizer.safetensors"
    assert any("Added to the Model list" in success.value for success in at.success)
    saved = checkpoints.load_checkpoint(folder / "uploaded-model-and-optimizer.safetensors")
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(saved(ids), mine(ids), rtol=0, atol=0)
    assert model_id in ui.all_choices()  # every student's picker lists it
    assert not list((folder / own_model.UPLOAD_FOLDER).iterdir())  # the received file is gone


def test_a_damaged_upload_says_what_is_wrong_and_loses_nothing(folder):
    at = open_app_page("pages/home.py", TINY)
    whole = book_pth(build_model(PRESETS["tiny"], seed=1))
    upload(at, "model.pth", whole[: len(whole) // 3], heads=4)
    assert not at.exception
    message = next(error.value for error in at.error if "model.pth could not be used" in error.value)
    assert "damaged or incomplete" in message and str(folder) not in message  # no server path shown
    assert at.session_state["model_id"] == TINY
    assert not list(folder.glob("*.safetensors")) and not list((folder / own_model.UPLOAD_FOLDER).iterdir())

    # The uploader offers .pth and .safetensors only; a file renamed past it is refused all the same.
    model_id, problem = own_model.add_uploaded_model("notes.txt", b"not a model")
    assert model_id is None and problem.startswith("notes.txt is not a model file")


def test_the_size_limit_is_stated_and_kept(folder, monkeypatch):
    monkeypatch.setenv(own_model.MAX_UPLOAD_ENV, "1")
    at = open_app_page("pages/home.py", TINY)
    assert any("up to 1 MB" in caption.value for caption in at.caption)
    upload(at, "model.pth", book_pth(build_model(PRESETS["tiny"], seed=1)), heads=4)  # about 13 MB
    assert any("this server takes models up to 1 MB" in error.value for error in at.error)
    assert own_model.limit_text(2048) == "2 GB"
    assert at.session_state["model_id"] == TINY


def test_a_server_can_offer_only_the_teachers_files(folder, monkeypatch):
    monkeypatch.setenv(own_model.UPLOADS_ENV, "off")
    at = open_app_page("pages/home.py", TINY)
    assert not at.get("file_uploader")
    assert any("your teacher provides the models" in caption.value for caption in at.caption)
