"""The sidebar's model picker through Streamlit's AppTest: pretrained sizes, downloads, memory, checkpoints.

The Hub is never contacted: ``gptcore.hub.find_local`` and ``download_pretrained`` are replaced by
fakes. A "downloaded" model is a tiny GPT-2 saved the Hugging Face way, which the real
``gptcore.hub.load_pretrained`` then loads from its folder.
"""

import threading

import pytest
import torch
from streamlit.testing.v1 import AppTest
from transformers import GPT2Config, GPT2LMHeadModel

import ui
from gptcore import PRESETS, build_model, checkpoints, hub
from gptcore.checksums import Verdict

TINY = "tiny-seed123"
MEDIUM = "pretrained-gpt2-medium"


class FakeHub:
    """A Hub cache holding the names in ``local``, and a download that waits until released."""

    def __init__(self, folder):
        self.folder = folder
        self.local: set[str] = set()
        self.calls: list[str] = []
        self.reported = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None

    def find_local(self, name, cache_dir=None):
        return self.folder if name in self.local else None

    def download(self, name, progress=None, cache_dir=None, endpoint=None, cancel=None):
        self.calls.append(name)
        progress(312_000_000, 548_000_000)
        self.reported.set()
        while not self.release.wait(0.01):
            if cancel.is_set():
                raise hub.DownloadCancelled(f"the download of {name} was cancelled")
        if self.error is not None:
            raise self.error
        self.local.add(name)
        return self.folder


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    torch.manual_seed(0)
    folder = tmp_path / "gpt2-snapshot"
    GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64)).eval().save_pretrained(folder)
    fake = FakeHub(folder)
    monkeypatch.setattr(hub, "find_local", fake.find_local)
    monkeypatch.setattr(hub, "download_pretrained", fake.download)
    # The fake copies pass their checksum check; the check itself is tested in test_checksums.py.
    monkeypatch.setattr(hub, "verify_local", lambda name, cache_dir=None: Verdict(True, "the published checksums"))
    ui.verification.verdict_board.clear()
    monkeypatch.setattr(ui.MEMORY_BUDGET, "limit", 10**12)  # room for any fake model
    monkeypatch.setenv(ui.CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    ui.download_registry.clear()
    yield fake
    fake.release.set()
    job = ui.download_registry().get("gpt2-medium")
    if job is not None:
        job.thread.join(timeout=10)
    ui.download_registry.clear()
    ui.verification.verdict_board.clear()
    for model_id in ui.MODEL_CHOICES:
        if model_id.startswith("pretrained-"):
            ui.forget_model(model_id)  # the fake weights must not outlive the test


def app(model_id: str | None = TINY) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=120)
    if model_id:
        at.session_state["model_id"] = model_id
    return at.run()


def sidebar_texts(at: AppTest, kind: str) -> list[str]:
    return [element.value for element in getattr(at.sidebar, kind)]


def progress_texts(at: AppTest) -> list[str]:
    return [element.proto.text for element in at.sidebar.get("progress")]


def download_job(name: str = "gpt2-medium"):
    job = ui.download_registry().get(name)
    assert job is not None, "no download was started"
    return job


def wait_for_end(name: str = "gpt2-medium") -> None:
    job = download_job(name)
    job.thread.join(timeout=10)
    assert not job.running


def test_the_picker_lists_every_size_the_untrained_models_and_saved_checkpoints(fake_hub, tmp_path):
    checkpoints.save_checkpoint(
        build_model(PRESETS["tiny"], seed=9), tmp_path / "checkpoints" / "my-run.safetensors", source="tiny", seed=9
    )
    fake_hub.local.add("gpt2")
    at = app()
    assert not at.exception
    options = at.sidebar.selectbox[0].options
    assert options[0].startswith("OpenAI 124M ready · RAM ")
    assert options[1].startswith("OpenAI 355M ↓") and " · RAM " in options[1]
    assert options[2].startswith("OpenAI 774M ↓")
    assert options[3].startswith("OpenAI 1558M ↓")
    assert options[4:] == [
        "GPT-2 124M, untrained (seed 123)",
        "Tiny GPT, untrained (2 layers, 4 heads)",
        "Checkpoint my-run.safetensors (3.2M parameters, 0 training steps)",
    ]

    at.sidebar.selectbox[0].select("checkpoint:my-run.safetensors").run()
    assert not at.exception
    assert at.session_state["model_id"] == "checkpoint:my-run.safetensors"
    at.switch_page("pages/tokens.py").run()  # the tokens page looks its choice up in ui.MODEL_CHOICES
    assert not at.exception
    assert at.title[0].value == "Tokens and embeddings"


def test_a_model_not_downloaded_keeps_the_current_one_and_offers_a_download(fake_hub):
    at = app()
    at.sidebar.selectbox[0].select(MEDIUM).run()
    assert not at.exception
    assert at.session_state["model_id"] == TINY  # every page keeps working on the model in use
    assert at.session_state["model_wanted"] == MEDIUM
    assert at.sidebar.selectbox[0].value == MEDIUM
    assert at.sidebar.button(key="download_model_button").proto.label == "Download GPT-2 355M"
    assert any("You keep using Tiny GPT" in text for text in sidebar_texts(at, "caption"))
    at.switch_page("pages/attention.py").run()
    assert not at.exception and at.title[0].value == "Attention"
    assert fake_hub.calls == []  # nothing is fetched until asked

    at.sidebar.selectbox[0].select(TINY).run()  # changing one's mind clears the wish
    assert "model_wanted" not in at.session_state
    assert not at.sidebar.button


def test_download_progress_cancel_then_download_and_switch(fake_hub):
    at = app()
    at.sidebar.selectbox[0].select(MEDIUM).run()
    at.sidebar.button(key="download_model_button").click().run()
    assert fake_hub.reported.wait(5)
    at.run()
    assert not at.exception
    [text] = progress_texts(at)
    assert text.startswith("312 of 548 MB, ")
    assert at.session_state["model_id"] == TINY  # still working on the tiny model meanwhile

    at.sidebar.button(key="cancel_download_button").click().run()
    assert download_job().cancel.is_set()
    wait_for_end()
    at.run()
    assert not at.exception
    assert "Download cancelled." in sidebar_texts(at, "info")
    assert not progress_texts(at)
    assert at.session_state["model_id"] == TINY

    fake_hub.reported.clear()
    at.sidebar.button(key="download_model_button").click().run()
    assert fake_hub.reported.wait(5)
    fake_hub.release.set()
    wait_for_end()
    at.run()
    assert not at.exception
    assert at.session_state["model_id"] == MEDIUM  # downloaded: the session switches to it
    assert "model_wanted" not in at.session_state
    assert at.sidebar.selectbox[0].options[1].startswith("OpenAI 355M ready")
    assert not any("Untrained model" in text for text in sidebar_texts(at, "warning"))
    assert at.query_params["model"] in (MEDIUM, [MEDIUM])
    assert at.title[0].value == "GPT explorer" and at.markdown  # the start page ran on the new model
    assert fake_hub.calls == ["gpt2-medium", "gpt2-medium"]


def test_two_students_share_one_download(fake_hub):
    first, second = app(), app()
    for at in (first, second):
        at.sidebar.selectbox[0].select(MEDIUM).run()
    first.sidebar.button(key="download_model_button").click().run()
    assert fake_hub.reported.wait(5)
    second.run()
    assert progress_texts(second)  # the second student sees the same download, with no button to start another
    assert not second.sidebar.get("button") or all(
        b.proto.label != "Download GPT-2 355M" for b in second.sidebar.get("button")
    )
    fake_hub.release.set()
    wait_for_end()
    for at in (first, second):
        at.run()
        assert at.session_state["model_id"] == MEDIUM
    assert fake_hub.calls == ["gpt2-medium"]


def test_an_unreachable_hub_gives_its_message_not_a_traceback(fake_hub):
    message = (
        "Could not download GPT-2 'gpt2-medium' (openai-community/gpt2-medium) from https://huggingface.co: "
        "could not connect.\nIt needs two files, config.json and model.safetensors, which come from ..."
    )
    fake_hub.error = hub.HubUnavailableError(message)
    fake_hub.release.set()
    at = app()
    at.sidebar.selectbox[0].select(MEDIUM).run()
    at.sidebar.button(key="download_model_button").click().run()
    wait_for_end()
    at.run()
    assert not at.exception
    assert message.replace("\n", "  \n") in sidebar_texts(at, "error")
    assert at.session_state["model_id"] == TINY
    assert at.sidebar.button(key="download_model_button")  # one can try again


def test_a_model_too_big_for_the_free_memory_is_refused(fake_hub, free_memory):
    free_memory(3_100_000_000)
    need = ui.format_bytes(hub.PRETRAINED["gpt2-xl"].ram_bytes)
    refusal = (
        f"GPT-2 1558M needs about {need} of memory; this server's memory budget "
        f"({ui.format_bytes(ui.MEMORY_BUDGET.limit)}) has 3.10 GB free."
    )
    at = app()
    at.sidebar.selectbox[0].select("pretrained-gpt2-xl").run()  # not downloaded: refused before downloading
    assert not at.exception
    assert any(text.startswith(refusal) for text in sidebar_texts(at, "error"))
    assert not at.sidebar.button  # no Download button for a model that could not be loaded

    fake_hub.local.add("gpt2-xl")  # downloaded already: refused before loading
    at.sidebar.selectbox[0].select(TINY).run()
    at.sidebar.selectbox[0].select("pretrained-gpt2-xl").run()
    assert any(text.startswith(refusal) for text in sidebar_texts(at, "error"))
    assert at.session_state["model_id"] == TINY
    assert not at.exception


def test_a_shared_link_to_a_model_not_downloaded_starts_on_the_default(fake_hub):
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.query_params["model"] = "pretrained-gpt2-large"
    at.run()
    assert not at.exception
    assert at.session_state["model_id"] == ui.DEFAULT_MODEL_ID
    assert at.session_state["model_wanted"] == "pretrained-gpt2-large"
    assert at.sidebar.button(key="download_model_button").proto.label == "Download GPT-2 774M"


def test_a_model_that_fails_to_load_gives_a_message_and_goes_back_to_the_default(fake_hub, monkeypatch):
    def broken():
        raise ValueError("weights.safetensors is damaged; delete it and save it again")

    choice = ui.ModelChoice("test-broken", "Broken model", broken, trained=True, about="test")
    monkeypatch.setitem(ui.MODEL_CHOICES, choice.model_id, choice)
    at = app()
    at.sidebar.selectbox[0].select("test-broken").run()
    assert not at.exception
    assert any("Could not load Broken model: weights.safetensors is damaged" in e.value for e in at.error)
    assert at.session_state["model_id"] == ui.DEFAULT_MODEL_ID
