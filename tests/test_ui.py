"""The shared Streamlit helpers that are plain functions: model catalog, memory check, download registry."""

import threading
from types import SimpleNamespace

import pytest
import torch
from conftest import fake_hub_cache
from transformers import GPT2Config, GPT2LMHeadModel

import ui
import ui.catalog
import ui.verification
from gptcore import PRESETS, build_model, checkpoints, hub
from gptcore.checksums import Verdict
from ui import downloads, memory

PRETRAINED_IDS = ["pretrained-gpt2", "pretrained-gpt2-medium", "pretrained-gpt2-large", "pretrained-gpt2-xl"]


@pytest.fixture
def no_local_weights(monkeypatch):
    monkeypatch.setattr(hub, "find_local", lambda name, cache_dir=None: None)


def test_the_catalog_lists_the_four_pretrained_sizes_then_the_untrained_models(no_local_weights):
    assert list(ui.MODEL_CHOICES) == [*PRETRAINED_IDS, "book-124m-seed123", "tiny-seed123"]
    for model_id in PRETRAINED_IDS:
        choice = ui.MODEL_CHOICES[model_id]
        assert choice.trained and choice.label.startswith("OpenAI ")
        assert not ui.is_ready(choice)
        info = hub.PRETRAINED[choice.hub_name]
        assert choice.ram_bytes == info.ram_bytes and choice.download_bytes == info.download_bytes


def test_picker_labels_give_download_size_and_memory_until_the_weights_are_here(monkeypatch, no_local_weights):
    medium = ui.MODEL_CHOICES["pretrained-gpt2-medium"]
    expected_download = ui.format_bytes(hub.PRETRAINED["gpt2-medium"].download_bytes)
    expected_ram = ui.format_bytes(hub.PRETRAINED["gpt2-medium"].ram_bytes)
    label = ui.picker_label(medium)
    assert label == f"OpenAI 355M ↓{expected_download} · RAM {expected_ram}"
    monkeypatch.setattr(hub, "find_local", lambda name, cache_dir=None: "somewhere" if name == "gpt2-medium" else None)
    monkeypatch.setattr(hub, "verify_local", lambda name, cache_dir=None: Verdict(True, "the published checksums"))
    ui.verification.verdict_board.clear()
    assert ui.picker_label(medium) == f"OpenAI 355M ready · RAM {expected_ram}"
    assert ui.picker_label(ui.MODEL_CHOICES["tiny-seed123"]) == "Tiny GPT, untrained (2 layers, 4 heads)"


def test_a_random_gpt2_in_the_cache_is_labelled_an_unverified_copy_with_a_warning(tmp_path, monkeypatch):
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, n_positions=16)).eval()
    fake_hub_cache(tmp_path, hf, "openai-community/gpt2")  # as a test's loopback hub once left it
    original = hub.find_local
    monkeypatch.setattr(hub, "find_local", lambda name, cache_dir=None: original(name, cache_dir=tmp_path))
    ui.verification.verdict_board.clear()
    choice = ui.MODEL_CHOICES["pretrained-gpt2"]
    verdict = ui.verification.verdict_board().verdict("gpt2", wait=True)
    assert not verdict.verified and verdict.problem == "config.json and model.safetensors differ from OpenAI's"
    assert ui.picker_label(choice).startswith("OpenAI 124M unverified copy · RAM")
    warning = ui.catalog.unverified_warning(choice)
    assert "does not match the published checksums" in warning and "download it again" in warning
    assert ui.catalog.unverified_warning(ui.MODEL_CHOICES["tiny-seed123"]) is None
    ui.verification.verdict_board.clear()


def test_a_pretrained_gpt2_in_the_local_cache_is_ready_and_loads_through_the_hub(tmp_path, monkeypatch):
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, n_positions=16)).eval()
    fake_hub_cache(tmp_path, hf, "openai-community/gpt2")
    original = hub.find_local
    monkeypatch.setattr(hub, "find_local", lambda name, cache_dir=None: original(name, cache_dir=tmp_path))

    choice = ui.MODEL_CHOICES["pretrained-gpt2"]
    assert ui.is_ready(choice)
    assert not ui.is_ready(ui.MODEL_CHOICES["pretrained-gpt2-xl"])
    assert choice.loading_text == "Loading GPT-2 124M weights from the local cache…"
    model = choice.build()
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf(ids).logits, atol=1e-4, rtol=0)


def test_checkpoints_in_the_folder_join_the_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv(ui.CHECKPOINTS_ENV, str(tmp_path))
    assert ui.checkpoint_folder() == tmp_path
    saved = build_model(PRESETS["tiny"], seed=5)
    checkpoints.save_checkpoint(
        saved, tmp_path / "tiny-run.safetensors", source="tiny-seed5", seed=5, training_steps=40
    )
    checkpoints.save_checkpoint(saved, tmp_path / "fresh.safetensors", source="untrained, seed 5", seed=5)

    found = ui.checkpoint_choices()
    assert sorted(found) == ["checkpoint:fresh.safetensors", "checkpoint:tiny-run.safetensors"]
    run = found["checkpoint:tiny-run.safetensors"]
    assert run.label == "Checkpoint tiny-run.safetensors (3.2M parameters, 40 training steps)"
    assert run.trained and not found["checkpoint:fresh.safetensors"].trained
    assert "seed 5" in run.about and "UTC" in run.about
    assert set(list(ui.all_choices())[-2:]) == set(found)  # after the fixed choices
    # Pages look choices up by id in MODEL_CHOICES; checkpoint ids resolve there too.
    assert ui.MODEL_CHOICES["checkpoint:tiny-run.safetensors"] is run
    assert ui.find_choice("checkpoint:gone.safetensors") is None
    with pytest.raises(KeyError):
        ui.MODEL_CHOICES["checkpoint:gone.safetensors"]
    loaded = run.build()
    for name, tensor in saved.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)


def test_a_new_checkpoint_shows_within_seconds_or_at_once_after_a_refresh(tmp_path, monkeypatch):
    monkeypatch.setenv(ui.CHECKPOINTS_ENV, str(tmp_path))
    assert ui.checkpoint_choices() == {}
    checkpoints.save_checkpoint(build_model(PRESETS["tiny"], seed=1), tmp_path / "new.safetensors", source="tiny")
    assert ui.checkpoint_choices() == {}  # the scan is cached for a few seconds
    ui.refresh_checkpoints()
    assert list(ui.checkpoint_choices()) == ["checkpoint:new.safetensors"]


def test_a_missing_checkpoint_folder_lists_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(ui.CHECKPOINTS_ENV, str(tmp_path / "not-made-yet"))
    assert ui.checkpoint_choices() == {}
    assert not (tmp_path / "not-made-yet").exists()  # scanning never creates it


def test_labels_are_unique_and_show_spaces():
    assert ui.labels([314, 314]) == ["0:␣I", "1:␣I"]


def test_default_model_is_the_books_untrained_124m():
    choice = ui.MODEL_CHOICES[ui.DEFAULT_MODEL_ID]
    assert not choice.trained
    assert "seed 123" in choice.label
    assert 0.6e9 < choice.ram_bytes < 1e9  # 163M float32 parameters plus headroom


# --- free memory -------------------------------------------------------------------------------


def test_memory_available_is_read_from_meminfo_and_container_limits(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24684084 kB\nMemFree:  1000 kB\nMemAvailable:    3027344 kB\n")
    assert memory._meminfo_available(meminfo) == 3027344 * 1024
    assert memory._meminfo_available(tmp_path / "absent") is None

    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory.current").write_text("123\n")
    assert memory._cgroup_room(tmp_path) is None  # no limit
    (tmp_path / "memory.max").write_text("2000000000\n")
    (tmp_path / "memory.current").write_text("500000000\n")
    assert memory._cgroup_room(tmp_path) == 1_500_000_000
    assert memory.read_available_memory() is None or memory.read_available_memory() > 0


def test_a_model_that_does_not_fit_is_refused_with_what_it_needs(free_memory):
    free_memory(3_100_000_000)
    xl = ui.MODEL_CHOICES["pretrained-gpt2-xl"]
    need = ui.format_bytes(xl.ram_bytes)
    assert ui.refusal(xl) == (
        f"GPT-2 1558M needs about {need} of memory; this server's memory budget "
        f"({ui.format_bytes(ui.MEMORY_BUDGET.limit)}) has 3.10 GB free. "
        "Pick a smaller model, or try again once others have finished."
    )
    assert ui.refusal(ui.MODEL_CHOICES["tiny-seed123"]) is None
    free_memory(10 * xl.ram_bytes)
    assert ui.refusal(xl) is None


def test_a_model_already_in_memory_is_never_refused(free_memory):
    model = ui.get_model("tiny-seed123")
    free_memory(1)
    tiny = ui.MODEL_CHOICES["tiny-seed123"]
    assert ui.refusal(tiny) is None
    assert model is ui.get_model("tiny-seed123")


def test_format_bytes():
    assert ui.format_bytes(548_105_171) == "548 MB"
    assert ui.format_bytes(1_520_000_000) == "1.52 GB"
    assert ui.format_bytes(12_000) == "12 kB"


# --- the download registry ---------------------------------------------------------------------


class FakeDownloader:
    """Reports some progress, then waits to be released (or cancelled), then ends as told."""

    def __init__(self, raises: BaseException | None = None):
        self.calls = []
        self.reported = threading.Event()
        self.release = threading.Event()
        self.raises = raises

    def __call__(self, name, progress, cancel):
        self.calls.append(name)
        progress(312_000_000, 548_000_000)
        self.reported.set()
        while not self.release.wait(0.01):
            if cancel.is_set():
                raise hub.DownloadCancelled(f"the download of {name} was cancelled")
        if self.raises is not None:
            raise self.raises


def finish(job: downloads.DownloadJob) -> None:
    job.thread.join(timeout=10)
    assert not job.thread.is_alive()


def test_one_download_per_model_is_shared_and_reports_progress():
    fake = FakeDownloader()
    registry = downloads.DownloadRegistry(fake)
    job = registry.start("gpt2-medium", "GPT-2 355M", 1_400_000_000)
    assert fake.reported.wait(5)
    assert registry.start("gpt2-medium", "GPT-2 355M", 1_400_000_000) is job  # a second click shares it
    assert job.running and registry.get("gpt2-medium") is job
    assert job.total_bytes == 548_000_000  # the downloader's own total wins over the estimate
    assert job.fraction == pytest.approx(312 / 548)
    assert job.progress_text().startswith("312 of 548 MB, ")
    fake.release.set()
    finish(job)
    assert job.state == "done" and job.error is None
    assert fake.calls == ["gpt2-medium"]


def test_progress_text_gives_the_recent_speed(monkeypatch):
    job = downloads.DownloadJob("gpt2-medium", "GPT-2 355M", 548_000_000)
    assert job.progress_text() == "Connecting… (548 MB to fetch)"
    assert job.speed() == 0.0
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(downloads, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    job.report(98_000_000, 548_000_000)
    job.report(312_000_000, 548_000_000)
    assert job.progress_text() == "312 of 548 MB, 21.4 MB/s"
    job.cancel.set()
    assert job.progress_text() == "Cancelling…"


def test_cancelling_stops_the_download():
    fake = FakeDownloader()
    registry = downloads.DownloadRegistry(fake)
    job = registry.start("gpt2-large", "GPT-2 774M", 3_000_000_000)
    assert fake.reported.wait(5)
    registry.cancel("gpt2-large")
    assert job.cancel.is_set()
    finish(job)
    assert job.state == "cancelled"
    again = registry.start("gpt2-large", "GPT-2 774M", 3_000_000_000)  # a new click starts afresh
    assert again is not job and again.running
    again.cancel.set()
    finish(again)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (hub.HubUnavailableError("Could not download GPT-2 'gpt2-xl': fetch model.safetensors into ~/x"), None),
        (OSError("No space left on device"), "Downloading GPT-2 1558M failed: No space left on device"),
    ],
)
def test_a_failed_download_keeps_a_message_not_a_traceback(error, message):
    fake = FakeDownloader(raises=error)
    fake.release.set()
    registry = downloads.DownloadRegistry(fake)
    job = registry.start("gpt2-xl", "GPT-2 1558M", 6_000_000_000)
    finish(job)
    assert job.state == "failed"
    assert job.error == (message or str(error))


def test_the_default_downloader_is_gptcore_hub(monkeypatch):
    seen = {}

    def fake_download(name, progress=None, cache_dir=None, endpoint=None, cancel=None):
        seen.update(name=name, cancel=cancel)
        progress(10, 20)

    monkeypatch.setattr(hub, "download_pretrained", fake_download)
    job = downloads.DownloadRegistry().start("gpt2", "GPT-2 124M", 548_105_171)
    finish(job)
    assert job.state == "done" and seen == {"name": "gpt2", "cancel": job.cancel}
    assert (job.done_bytes, job.total_bytes) == (10, 20)
