"""ui.training without a page: uploads, the run registry (cap, one run per session, stop), checkpoints.

Real runs use TEST_PRESET, a one-layer model with a 16-token context added to the engine's presets
for the test, so a run of a few steps takes well under a second. The runs that must wait (to fill
the server's slots) use a fake trainer that steps until it is stopped or released.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

import ui
from gptcore import GPTConfig, checkpoints
from gptcore.footprint import training_bytes
from gptcore.training import TRAINING_PRESETS, StepReport, TrainingResult, TrainingSettings, new_training_model
from ui import tables, training, uploads

TEST_PRESET = "test · 1 layer · 16 dims · context 16"
TEST_CONFIG = GPTConfig(vocab_size=50257, context_length=16, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0)
TEXT = "Every effort moves you toward the light. The cat sat on the mat and looked out at the grey sea. " * 12
QUICK = TrainingSettings(max_steps=3, batch_size=2, eval_every=1, eval_batches=1, sample_tokens=3)


class BlockingTrainer:
    """Stands in for gptcore.training.train: one step every few milliseconds until stopped or released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, model, text, settings, *, on_step=None, on_eval=None, stop=None, step_guard=None, **_):
        step = 0
        while not (stop.is_set() or self.release.is_set()) and step < settings.max_steps:
            step += 1
            with step_guard():
                on_step(
                    StepReport(step, settings.max_steps, 32 * step, 10.0 / step, (1.0,) * model.cfg.n_layers, 0.01, 1e3)
                )
            self.started.set()
            time.sleep(0.01)
        return TrainingResult(model, step, stop.is_set(), [], [], float("inf"), None)


@pytest.fixture
def training_setup(tmp_path, monkeypatch):
    """A fresh registry, the tiny test preset, and a checkpoint folder of the test's own.

    Runs use one torch thread: on a busy shared test machine, two OpenMP threads wait on each other
    at every small operation, and a tiny model's steps are all small operations (5-8x slower).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(ui.training, "TRAINING_THREADS", 1)
    monkeypatch.setenv(ui.CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    monkeypatch.setitem(TRAINING_PRESETS, TEST_PRESET, TEST_CONFIG)
    ui.training_registry.clear()
    ui.refresh_checkpoints()
    yield tmp_path / "checkpoints"
    registry = ui.training_registry()
    for run in registry.running():
        run.stop.set()
    for run in list(registry._runs.values()):
        run.thread.join(timeout=60)
    ui.training_registry.clear()
    ui.refresh_checkpoints()
    torch.set_num_threads(threads)


def wait_until_over(run: ui.TrainingRun, timeout: float = 60) -> None:
    run.thread.join(timeout)
    assert not run.running, f"the run is still {run.state} after {timeout} s"


def test_uploads_must_be_utf8_text_within_the_size_limit(monkeypatch):
    assert uploads.decode_upload("notes.txt", "Grüße\n".encode()) == "Grüße\n"
    assert uploads.decode_upload("windows.txt", b"\xef\xbb\xbfHello") == "Hello"  # the byte-order mark goes
    with pytest.raises(ui.TrainingTextError, match=r"latin\.txt is not UTF-8 text.*save it again"):
        uploads.decode_upload("latin.txt", "Grüße".encode("latin-1"))
    monkeypatch.setattr(ui.uploads, "MAX_TEXT_BYTES", 1_000)
    with pytest.raises(ui.TrainingTextError, match=r"big\.txt is 2 kB.*at most 1 kB"):
        uploads.decode_upload("big.txt", b"a" * 2_000)
    with pytest.raises(ui.TrainingTextError, match="Use a shorter excerpt"):
        uploads.check_text_size("é" * 501)  # 1,002 bytes in UTF-8
    with pytest.raises(ui.TrainingTextError, match=r"is 1,001 bytes, but .* at most 1,000 bytes"):
        uploads.check_text_size("a" * 1_001)  # sizes that would both read "1 kB" are given exactly
    uploads.check_text_size("é" * 500)


def test_a_real_run_saves_its_start_and_its_result_where_the_picker_looks(training_setup):
    registry = ui.training_registry()
    run = registry.start("session-a", TEXT, QUICK, preset=TEST_PRESET)
    wait_until_over(run)
    assert run.state == "done", run.error
    assert run.steps_done == 3 and [s.step for s in run.steps()] == [1, 2, 3]
    assert [e.step for e in run.evaluations()] == [0, 1, 2, 3]  # before the first step, then every step
    assert run.checkpoint_id.startswith("checkpoint:trained-1L-16d-ctx16-")
    assert run.start_model_id == "checkpoint:untrained-1L-16d-ctx16-seed123.safetensors"

    choices = ui.checkpoint_choices()
    trained, start = choices[run.checkpoint_id], choices[run.start_model_id]
    assert trained.trained and not start.trained
    assert "3 training steps" in trained.label
    info = checkpoints.read_checkpoint_info(training_setup / run.checkpoint_id.removeprefix("checkpoint:"))
    assert info.cfg == TEST_CONFIG and info.training_steps == 3 and "trained here" in info.source
    loaded, untrained = ui.get_model(run.checkpoint_id), ui.get_model(run.start_model_id)
    assert not (loaded.out_head.weight == untrained.out_head.weight).all()  # trained weights were saved
    assert (untrained.out_head.weight == new_training_model(TEST_CONFIG).out_head.weight).all()

    losses = tables.loss_frame(run)
    assert set(losses["kind"]) == {"train (this batch)", "train", "validation"} and len(losses) == 3 + 4 + 4
    norms = tables.grad_norm_frame(run)
    assert list(norms.columns) == ["step", "block 0"] and (norms["block 0"] > 0).all()


def test_a_text_too_short_fails_with_the_engine_s_reason(training_setup):
    run = ui.training_registry().start("session-a", "Too short.", QUICK, preset=TEST_PRESET)
    wait_until_over(run)
    assert run.state == "failed" and run.checkpoint_id is None and run.start_model_id is None
    assert not list(training_setup.glob("*.safetensors"))  # nothing saved for a run that never started
    assert run.error.startswith("This text is too short to train on: the text has 3 tokens")


def test_a_folder_that_cannot_be_written_is_refused_before_training(training_setup, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # nothing can be created below a file, even as root
    with pytest.raises(ui.TrainingRefusedError, match="cannot be written to"):
        ui.training_registry().start(
            "session-a", "Enough text. " * 200, QUICK, preset=TEST_PRESET, folder=blocker / "checkpoints"
        )
    assert not ui.training_registry().running()


def test_one_run_per_session_and_a_cap_for_the_server(training_setup, monkeypatch):
    fake = BlockingTrainer()
    monkeypatch.setattr(training, "train", fake)
    registry = ui.training_registry()
    long_run = TrainingSettings(max_steps=100_000)
    first = registry.start("session-a", TEXT, long_run, preset=TEST_PRESET)
    with pytest.raises(ui.TrainingRefusedError, match="Your training run is still going"):
        registry.start("session-a", TEXT, long_run, preset=TEST_PRESET)
    assert registry.full_message() is None
    registry.start("session-b", TEXT, long_run, preset=TEST_PRESET)
    fake.started.wait(10)
    assert len(registry.running()) == ui.MAX_CONCURRENT_RUNS == 2
    with pytest.raises(ui.TrainingRefusedError, match="All 2 training slots on this server are in use"):
        registry.start("session-c", TEXT, long_run, preset=TEST_PRESET)
    assert registry.get("session-c") is None

    deadline = time.monotonic() + 10
    while first.steps_done == 0 and time.monotonic() < deadline:  # stopped before a step, there is nothing to keep
        time.sleep(0.01)
    registry.stop("session-a")
    wait_until_over(first)
    assert first.state == "stopped" and first.checkpoint_id is not None  # what it learned so far is kept
    assert first.checkpoint_id in ui.all_choices()
    third = registry.start("session-c", TEXT, long_run, preset=TEST_PRESET)  # a slot is free again
    assert third.running
    fake.release.set()


def test_starting_counts_the_memory_of_runs_already_going(training_setup, monkeypatch, free_memory):
    fake = BlockingTrainer()
    monkeypatch.setattr(training, "train", fake)
    long_run = TrainingSettings(max_steps=100_000)
    one_run = training_bytes(TRAINING_PRESETS[TEST_PRESET], long_run.batch_size, TEST_CONFIG.context_length)
    free_memory(int(1.5 * one_run))  # room for one run, not two
    registry = ui.training_registry()
    first = registry.start("session-a", TEXT, long_run, preset=TEST_PRESET)
    assert first.needed_bytes == one_run
    with pytest.raises(ui.TrainingRefusedError, match=r"memory budget .* free\. Try a smaller batch"):
        registry.start("session-b", TEXT, long_run, preset=TEST_PRESET)
    assert registry.get("session-b") is None
    fake.release.set()
    first.thread.join(timeout=10)
    assert registry.start("session-b", TEXT, long_run, preset=TEST_PRESET).needed_bytes == one_run  # given back
    fake.release.set()


def test_progress_eta_and_speed_come_from_the_step_reports():
    run = ui.TrainingRun("session-a", "a test", TrainingSettings(max_steps=100), text_chars=10)
    assert run.progress_text().startswith("Preparing the text")
    assert run.eta_seconds() is None
    for step in range(1, 11):
        run.add_step(StepReport(step, 100, 512 * step, 5.0, (1.0, 2.0), step * 0.5, 1000.0))
    run._step_times[:] = [0.5 * i for i in range(10)]  # two steps a second
    assert run.state == "running" and run.fraction == pytest.approx(0.1)
    steps_per_s, tokens_per_s = run.rates()
    assert steps_per_s == pytest.approx(2.0) and tokens_per_s == pytest.approx(1024.0)
    assert run.eta_seconds() == pytest.approx(45.0)
    assert run.progress_text() == "Step 10 of 100, 1,024 tokens/s, about 45 s left"
    run.stop.set()
    assert "stopping after this step" in run.progress_text()
    assert training.format_duration(125) == "2 min 05 s"


def test_training_a_model_too_big_for_the_server_is_refused(free_memory):
    from gptcore import PRESETS

    assert "too big to train" in ui.training_refusal(PRESETS["gpt2-medium"], 8, 128, "GPT-2 355M")
    assert ui.training_refusal(PRESETS["tiny"], 8, 64, "Tiny GPT") is None
    free_memory(1_000)
    assert "Try a smaller batch or model" in ui.training_refusal(PRESETS["tiny"], 8, 64, "Tiny GPT")
