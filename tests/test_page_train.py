"""The Train page through AppTest: a short real run from start to the model picker, Stop, and every refusal."""

from __future__ import annotations

import json
import math

from conftest import open_app_page
from streamlit.testing.v1 import AppTest
from test_training import MEMORISER, MEMORISING_RUN, random_words
from test_training_ui import TEST_PRESET, TEXT, BlockingTrainer, training_setup, wait_until_over  # noqa: F401

import ui
from gptcore import get_tokenizer
from gptcore.checkpoints import read_checkpoint_info
from gptcore.memorisation import find_memorising
from gptcore.training import TRAINING_PRESETS
from gptcore.training_data import longest_window, tokens_needed
from ui import training
from ui.uploads import SHORTEST_WINDOW, VAL_FRACTION

DEFAULT_PRESET = "2 layers · 64 dims · context 64"

TINY = "tiny-seed123"


def open_page(text: str | None = TEXT, steps: int = 10, batch_size: int = 2) -> AppTest:
    """The Train page on the tiny model, with the test preset, ``steps`` steps and ``text`` pasted."""
    at = open_app_page("pages/train.py", TINY)
    at.session_state["train_preset"] = TEST_PRESET
    at.session_state["train_steps"] = steps
    at.session_state["train_batch_size"] = batch_size
    if text is not None:
        at.session_state["train_text"] = text
    return at.run()


def session_run(at: AppTest) -> ui.TrainingRun:
    return ui.training_registry().get(at.session_state["training_run_id"])


def test_a_short_run_goes_from_start_to_the_model_picker(training_setup):  # noqa: F811
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "Train a model"
    assert "characters" in at.caption[0].value and "tokens" in at.caption[0].value
    start = at.button(key="train_start_button")
    assert not start.disabled
    start.click().run()
    assert not at.exception
    run = session_run(at)
    assert run is not None and run.name == f"a new model ({TEST_PRESET})"
    assert run.settings.max_steps == 10 and run.settings.eval_every == 1 and run.settings.batch_size == 2
    assert any("Training a new model" in info.value for info in at.info)  # the live view while it runs

    wait_until_over(run)
    at.run()
    assert not at.exception
    assert run.state == "done", run.error
    assert at.success[0].value.startswith("Finished after 10 steps")
    assert run.checkpoint_id in ui.all_choices()  # the picker lists it
    loss = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [trace["name"] for trace in loss["data"]] == ["train (this batch)", "train", "validation"]
    batch, train = loss["data"][0]["line"]["color"], loss["data"][1]["line"]["color"]
    assert batch != train and not batch.startswith("#9e")  # not a paler blue beside the blue
    gradients = json.loads(at.get("plotly_chart")[1].proto.spec)["layout"]
    assert gradients["yaxis"]["dtick"] == "D2" and gradients["colorway"][:2] == ["#0072B2", "#E69F00"]
    assert len(at.code) == 1 + len(run.evaluations())  # the latest sample, then every sample in the expander

    at.button(key="train_explore_button").click().run()
    assert not at.exception
    assert at.session_state["model_id"] == run.checkpoint_id
    assert at.button(key="train_explore_button").disabled  # already the model in use

    at.button(key="train_compare_button").click().run()
    assert not at.exception
    assert at.title[0].value == "Compare two models"
    assert at.session_state["compare_left_model"] == run.start_model_id
    assert at.session_state["compare_right_model"] == run.checkpoint_id
    headings = [markdown.value for markdown in at.markdown if markdown.value.startswith("**")]
    assert headings[:2] == ["**Before training**", "**After training (10 steps)**"]  # not the long file names


def test_stop_ends_the_run_and_keeps_what_it_learned(training_setup, monkeypatch):  # noqa: F811
    fake = BlockingTrainer()
    monkeypatch.setattr(training, "train", fake)
    at = open_page(steps=2000)
    at.button(key="train_start_button").click().run()
    run = session_run(at)
    assert fake.started.wait(10)
    at.run()
    assert not at.exception
    assert at.get("progress")  # the live view's progress bar
    at.button(key="train_stop_button").click().run()
    wait_until_over(run)
    at.run()
    assert not at.exception
    assert run.state == "stopped" and 0 < run.steps_done < 2000
    assert at.success[0].value.startswith(f"Stopped after {run.steps_done:,} steps")
    assert run.checkpoint_id in ui.all_choices()


def test_a_full_server_says_so_and_keeps_start_disabled(training_setup, monkeypatch):  # noqa: F811
    fake = BlockingTrainer()
    monkeypatch.setattr(training, "train", fake)
    registry = ui.training_registry()
    for other in ("session-a", "session-b"):
        registry.start(other, TEXT, training.TrainingSettings(max_steps=100_000), preset=TEST_PRESET)
    at = open_page()
    assert not at.exception
    assert any("All 2 training slots on this server are in use" in warning.value for warning in at.warning)
    assert at.button(key="train_start_button").disabled
    fake.release.set()


def test_too_much_text_and_a_file_that_is_not_utf8_get_clear_messages(training_setup, monkeypatch):  # noqa: F811
    monkeypatch.setattr(ui.uploads, "MAX_TEXT_BYTES", 2_000)
    at = open_page(text="word " * 1_000)  # 5,000 bytes
    assert not at.exception
    assert any("reads at most 2 kB" in error.value for error in at.error)
    assert at.button(key="train_start_button").disabled

    at.session_state["train_text"] = ""
    at.run()
    assert any("Paste a text or upload" in info.value for info in at.info)
    assert at.button(key="train_start_button").disabled

    at.file_uploader(key="train_upload").upload("story.txt", "Ça été très bien".encode("latin-1"), "text/plain")
    at.run()
    assert not at.exception
    assert any("story.txt is not UTF-8 text" in error.value for error in at.error)
    assert at.button(key="train_start_button").disabled


def test_a_text_too_short_for_any_window_disables_start_and_says_how_much_more_to_paste(training_setup):  # noqa: F811
    at = open_page(text="Just one line.")
    assert not at.exception
    assert at.button(key="train_start_button").disabled  # refused before Start, not five seconds after it
    message = next(error.value for error in at.error if error.value.startswith("This text is too short"))
    needed = tokens_needed(SHORTEST_WINDOW, VAL_FRACTION)
    chars_per_token = len("Just one line.") / len(get_tokenizer().encode("Just one line."))
    more = 100 * math.ceil((needed - 4) * chars_per_token / 100)
    assert f"paste about {more:,} more characters" in message
    assert "val_fraction" not in message  # plain words, not the engine's settings


def test_a_short_text_is_read_in_shorter_windows_and_trains(training_setup):  # noqa: F811
    text = TEXT[: len(TEXT) * 2 // 3] * 2  # a few hundred tokens: too few for 64-token windows
    n_tokens = len(get_tokenizer().encode(text))
    assert tokens_needed(64, VAL_FRACTION) > n_tokens
    window = longest_window(n_tokens, 64, VAL_FRACTION, SHORTEST_WINDOW)
    assert SHORTEST_WINDOW <= window < 64
    at = open_page(text=text)
    at.session_state["train_preset"] = DEFAULT_PRESET  # context 64
    at.run()
    assert not at.exception
    assert any(f"reads {window}-token windows instead of 64" in caption.value for caption in at.caption)
    at.button(key="train_start_button").click().run()
    run = session_run(at)
    assert run.settings.context_length == window
    wait_until_over(run)
    assert run.state == "done", run.error


def test_fine_tuning_trains_a_copy_of_the_sidebar_model(training_setup):  # noqa: F811
    at = open_page(text=TEXT * 3, batch_size=1)
    at.radio(key="train_source_box").set_value("sidebar").run()
    assert not at.exception
    assert at.selectbox(key="train_preset_box").disabled
    assert any("Trains a copy of Tiny GPT" in caption.value for caption in at.caption)
    at.button(key="train_start_button").click().run()
    run = session_run(at)
    wait_until_over(run)
    assert run.state == "done", run.error
    assert run.settings.context_length == 64  # the tiny model's whole context (under FINE_TUNE_CONTEXT)
    assert run.start_model_id == TINY
    assert run.checkpoint_id.startswith("checkpoint:trained-tiny-gpt-untrained-2-layers-4-heads-")
    trained = ui.get_model(run.checkpoint_id)
    assert trained.cfg == ui.get_model(TINY).cfg
    original = ui.get_model(TINY).trf_blocks[0].att.W_query.weight
    assert not (trained.trf_blocks[0].att.W_query.weight == original).all()  # the copy learned; the original did not


def test_fine_tuning_the_124m_model_warns_that_steps_are_slow(training_setup):  # noqa: F811
    at = open_app_page("pages/train.py")  # the default model: GPT-2 124M, untrained
    at.radio(key="train_source_box").set_value("sidebar").run()
    assert not at.exception
    assert any("big for this server's processor" in warning.value for warning in at.warning)
    assert any("Each step reads 8 windows of 128 tokens" in caption.value for caption in at.caption)


def test_a_run_that_memorises_says_so_marks_its_best_step_and_offers_that_model(training_setup, monkeypatch):  # noqa: F811
    monkeypatch.setitem(TRAINING_PRESETS, "memoriser", MEMORISER)
    run = ui.training_registry().start("session-m", random_words(), MEMORISING_RUN, preset="memoriser")
    wait_until_over(run)
    assert run.state == "done", run.error
    at = open_app_page("pages/train.py", TINY)
    at.session_state["training_run_id"] = "session-m"
    at.run()
    assert not at.exception

    memorising = find_memorising(run.evaluations())
    warning = at.warning[0].value
    assert warning.startswith(f"**The model started memorising around step {memorising.best_step}.**")
    validation = at.metric[3]
    assert validation.delta.startswith("+") and f"since step {memorising.best_step}" in validation.delta  # red, up
    loss = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [shape["x0"] for shape in loss["layout"]["shapes"]] == [memorising.best_step]  # the dashed line

    at.button(key="train_best_button").click().run()
    assert not at.exception
    kept = run.best_checkpoint_id
    assert kept.endswith(f"-best-step{memorising.best_step}.safetensors") and at.session_state["model_id"] == kept
    assert read_checkpoint_info(training_setup / kept.removeprefix(ui.CHECKPOINT_PREFIX)).training_steps == (
        memorising.best_step
    )
    assert not list((training_setup / ui.training.BEST_FOLDER).iterdir())  # moved, not copied
