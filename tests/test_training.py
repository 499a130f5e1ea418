import math
import random
import re
import threading
from contextlib import contextmanager
from dataclasses import replace

import pytest
import torch
from torch import nn

from gptcore import GPTConfig, build_model, get_tokenizer
from gptcore.checkpoints import list_checkpoints, load_checkpoint, read_checkpoint_info, save_checkpoint
from gptcore.memorisation import copied_words, find_memorising
from gptcore.training import (
    TRAINING_PRESETS,
    EvalReport,
    TrainingDataError,
    TrainingSettings,
    is_resumable,
    new_training_model,
    train,
    training_state_path,
)

# Two blocks of 16 dims with GPT-2's vocabulary: a step takes milliseconds, and the tokenizer works.
TINY = GPTConfig(vocab_size=50257, context_length=16, emb_dim=16, n_heads=2, n_layers=2, drop_rate=0.1)
FAST = TrainingSettings(
    max_steps=8,
    batch_size=4,
    learning_rate=1e-2,
    eval_every=100,
    eval_batches=2,
    sample_prompt="The cat",
    sample_tokens=4,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train faster on one thread, and far faster on a busy machine (no waiting on peers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def text() -> str:
    """About 900 tokens of five short sentences in a seeded random order: easy to learn, not trivial."""
    sentences = [
        "The cat sat on the mat.",
        "A dog ran in the park.",
        "Birds sing in the morning.",
        "The sun is warm today.",
        "We read a book together.",
    ]
    rng = random.Random(0)
    return " ".join(rng.choice(sentences) for _ in range(150))


@pytest.fixture
def model():
    return build_model(TINY, seed=1)


def run(model, text, settings=FAST, **kwargs):
    return train(model, text, settings, **kwargs)


def test_training_lowers_the_validation_loss_well_below_chance(model, text):
    settings = replace(FAST, max_steps=30, eval_every=10)
    result = run(model, text, settings)
    val_losses = [report.val_loss for report in result.evaluations]
    assert [report.step for report in result.evaluations] == [0, 10, 20, 30]
    assert val_losses[0] > 10.5  # untrained: about ln(50257) = 10.8
    assert val_losses[-1] < 4.0  # observed 2.4
    assert result.best_val_loss == min(val_losses)
    assert (result.steps_done, result.stopped, len(result.history)) == (30, False, 30)
    assert result.history[-1].tokens_seen == 30 * 4 * 16
    assert all(report.sample.startswith("The cat") for report in result.evaluations)
    assert not result.model.training
    assert result.checkpoint is None


def test_the_same_seed_gives_the_same_run_and_another_seed_does_not(model, text):
    first, second = run(model, text), run(model, text)
    assert [r.train_loss for r in first.history] == [r.train_loss for r in second.history]
    assert [r.grad_norms for r in first.history] == [r.grad_norms for r in second.history]
    assert first.evaluations[-1].val_loss == second.evaluations[-1].val_loss
    other = run(model, text, replace(FAST, seed=124))
    assert [r.train_loss for r in other.history] != [r.train_loss for r in first.history]


def test_the_model_passed_in_is_never_changed(model, text):
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    global_rng = torch.get_rng_state()
    result = run(model, text, replace(FAST, max_steps=3))
    assert result.model is not model
    assert all(torch.equal(model.state_dict()[name], tensor) for name, tensor in before.items())
    assert not model.training
    assert all(type(m) is nn.Dropout for m in model.modules() if isinstance(m, nn.Dropout))
    # ...while the copy did learn, and went back to ordinary dropout layers.
    assert not torch.equal(result.model.out_head.weight, model.out_head.weight)
    assert any(type(m) is nn.Dropout for m in result.model.modules())
    assert torch.equal(torch.get_rng_state(), global_rng)  # the global random stream was not used


def test_gradient_norms_have_one_positive_entry_per_block(model, text):
    result = run(model, text, replace(FAST, max_steps=2))
    for report in result.history:
        assert len(report.grad_norms) == TINY.n_layers
        assert all(math.isfinite(norm) and norm > 0 for norm in report.grad_norms)
        assert report.embedding_grad_norm > 0 and report.head_grad_norm > 0
        assert report.tokens_per_s > 0 and report.seconds > 0


def test_stop_ends_after_the_current_step_with_a_loadable_checkpoint(model, text, tmp_path):
    stop = threading.Event()

    def stop_at_three(report):
        if report.step == 3:
            stop.set()

    path = tmp_path / "run.safetensors"
    result = run(model, text, on_step=stop_at_three, stop=stop, checkpoint_path=path)
    assert (result.steps_done, result.stopped, len(result.history)) == (3, True, 3)
    assert result.checkpoint == path
    assert read_checkpoint_info(path).training_steps == 3
    loaded = load_checkpoint(path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in result.model.state_dict().items())
    assert [info.path.name for info in list_checkpoints(tmp_path)] == ["run.safetensors"]  # not the state file


def test_resuming_takes_the_same_steps_as_a_run_never_stopped(model, text, tmp_path):
    uninterrupted = run(model, text)
    stop = threading.Event()
    path = tmp_path / "half.safetensors"
    run(model, text, on_step=lambda r: r.step == 4 and stop.set(), stop=stop, checkpoint_path=path)
    assert is_resumable(path)

    resumed = run(model, text, resume_from=path)
    assert [r.step for r in resumed.history] == [5, 6, 7, 8]
    assert [r.train_loss for r in resumed.history] == [r.train_loss for r in uninterrupted.history[4:]]
    assert resumed.history[-1].tokens_seen == uninterrupted.history[-1].tokens_seen
    assert all(torch.equal(resumed.model.state_dict()[k], v) for k, v in uninterrupted.model.state_dict().items())


def test_resume_needs_a_training_state_and_steps_left(model, text, tmp_path):
    plain = save_checkpoint(model, tmp_path / "plain.safetensors", source="test")
    assert not is_resumable(plain)
    with pytest.raises(ValueError, match="no training state"):
        run(model, text, resume_from=plain)
    done = tmp_path / "done.safetensors"
    run(model, text, replace(FAST, max_steps=2), checkpoint_path=done)
    with pytest.raises(ValueError, match="already at step 2"):
        run(model, text, replace(FAST, max_steps=2), resume_from=done)
    other = build_model(replace(TINY, emb_dim=8), seed=1)
    with pytest.raises(ValueError, match="config"):
        run(other, text, resume_from=done)
    training_state_path(done).unlink()
    assert not is_resumable(done)


def test_checkpoints_are_written_every_n_steps_and_at_the_end(model, text, tmp_path):
    path = tmp_path / "every.safetensors"
    seen = []

    def note_checkpoint(report):
        seen.append(read_checkpoint_info(path).training_steps if path.exists() else None)

    settings = replace(FAST, max_steps=7, checkpoint_every=3)
    result = run(model, text, settings, on_step=note_checkpoint, checkpoint_path=path)
    assert seen == [None, None, None, 3, 3, 3, 6]  # what was on disk when each step finished
    assert read_checkpoint_info(result.checkpoint).training_steps == 7

    per_step = run(model, text, settings, checkpoint_path=tmp_path / "kept-{step}.safetensors")
    assert sorted(p.name for p in tmp_path.glob("kept-*.safetensors")) == [
        "kept-3.safetensors",
        "kept-6.safetensors",
        "kept-7.safetensors",
    ]
    assert per_step.checkpoint == tmp_path / "kept-7.safetensors"


def test_evaluations_come_at_the_start_every_n_steps_and_at_the_end(model, text):
    evaluations, guarded = [], 0

    @contextmanager
    def counting_guard():
        nonlocal guarded
        guarded += 1
        yield

    settings = replace(FAST, max_steps=7, eval_every=3)
    result = run(model, text, settings, on_eval=evaluations.append, step_guard=counting_guard)
    assert [e.step for e in evaluations] == [0, 3, 6, 7]
    assert evaluations == result.evaluations
    assert guarded >= 7  # at least every optimizer step ran inside the guard


def test_a_text_too_short_for_two_windows_says_how_many_tokens_it_needs(model):
    with pytest.raises(TrainingDataError, match=r"has 3 tokens.*needs at least \d+") as caught:
        run(model, "Hello, world")
    needed = int(re.search(r"needs at least ([\d,]+)", str(caught.value)).group(1).replace(",", ""))
    just_enough = "a" + " a" * (needed - 1)
    assert len(get_tokenizer().encode(just_enough)) == needed
    run(model, just_enough, replace(FAST, max_steps=1))  # does not raise
    with pytest.raises(TrainingDataError):
        run(model, just_enough.removesuffix(" a"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"eval_batches": 0}, "eval_batches"),
        ({"sample_prompt": ""}, "sample_prompt"),
    ],
)
def test_bad_settings_are_refused_with_their_name(change, message):
    with pytest.raises(ValueError, match=message):
        TrainingSettings(**change)


def test_a_window_longer_than_the_context_is_refused(model, text):
    with pytest.raises(ValueError, match="context_length"):
        run(model, text, replace(FAST, context_length=17))
    with pytest.raises(ValueError, match=r"end in \.safetensors"):
        run(model, text, checkpoint_path="model.pt")


def test_presets_are_small_gpt2_vocabulary_models():
    assert next(iter(TRAINING_PRESETS)) == "2 layers · 128 dims · context 128"
    assert 3 <= len(TRAINING_PRESETS) <= 5
    for cfg in TRAINING_PRESETS.values():
        assert cfg.vocab_size == 50257
        assert 2 <= cfg.n_layers <= 6 and 64 <= cfg.emb_dim <= 384 and 64 <= cfg.context_length <= 256
    fresh = new_training_model("2 layers · 128 dims · context 128", seed=5)
    assert fresh.cfg == TRAINING_PRESETS["2 layers · 128 dims · context 128"]
    assert torch.equal(fresh.out_head.weight, build_model(fresh.cfg, seed=5).out_head.weight)
    assert new_training_model(TINY).cfg == TINY
    with pytest.raises(ValueError, match="unknown training preset"):
        new_training_model("huge")


def test_a_stop_before_the_first_step_still_saves_a_resumable_checkpoint(model, text, tmp_path):
    stop = threading.Event()
    stop.set()
    path = tmp_path / "start.safetensors"
    result = run(model, text, stop=stop, checkpoint_path=path)
    assert (result.steps_done, result.stopped, result.history, result.evaluations) == (0, True, [], [])
    assert read_checkpoint_info(path).training_steps == 0
    short = replace(FAST, max_steps=2)
    resumed = run(model, text, short, resume_from=path)
    assert [r.train_loss for r in resumed.history] == [r.train_loss for r in run(model, text, short).history]


MEMORISER = GPTConfig(vocab_size=50257, context_length=16, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0)


def random_words(count: int = 400) -> str:
    """Words in a seeded random order: nothing to learn beyond how often each word comes, so a model
    that goes on learning can only memorise the training windows."""
    rng = random.Random(0)
    words = [
        "cat",
        "dog",
        "sun",
        "tree",
        "book",
        "sea",
        "red",
        "blue",
        "run",
        "sing",
        "warm",
        "cold",
        "day",
        "night",
        "bird",
        "park",
    ]
    return " ".join(rng.choice(words) for _ in range(count))


MEMORISING_RUN = TrainingSettings(
    max_steps=80, batch_size=4, learning_rate=1e-2, eval_every=10, eval_batches=2, sample_prompt="cat", sample_tokens=4
)


def test_a_run_that_memorises_is_found_and_its_best_weights_are_kept(tmp_path):
    best_path = tmp_path / "best.safetensors"
    result = train(build_model(MEMORISER, seed=1), random_words(), MEMORISING_RUN, best_checkpoint_path=best_path)
    evaluations = result.evaluations
    lowest = min(evaluations[1:], key=lambda report: report.val_loss)
    assert result.best_step == lowest.step < result.steps_done
    assert result.best_checkpoint == best_path and read_checkpoint_info(best_path).training_steps == lowest.step

    memorising = find_memorising(evaluations)
    assert memorising is not None and memorising.best_step == lowest.step
    assert memorising.final_val_loss > memorising.best_val_loss + 0.5  # validation went up...
    assert memorising.final_train_loss < memorising.train_loss_at_best  # ...while training went down


def test_a_run_still_learning_is_not_memorising(model, text, tmp_path):
    result = run(model, text, replace(FAST, eval_every=2), best_checkpoint_path=tmp_path / "best.safetensors")
    assert find_memorising(result.evaluations) is None
    assert result.best_step == min(result.evaluations[1:], key=lambda report: report.val_loss).step


def test_find_memorising_needs_a_real_rise_and_a_falling_training_loss():
    def reports(*losses):
        return [EvalReport(10 * i, 0, train, val, "") for i, (train, val) in enumerate(losses)]

    assert find_memorising(reports((5, 5), (3, 3))) is None  # too few evaluations to see a turn
    assert find_memorising(reports((5, 5), (3, 3), (2, 3.03))) is None  # within the noise
    assert find_memorising(reports((5, 5), (3, 3), (3.2, 3.5))) is None  # both rose: not memorising
    turned = find_memorising(reports((5, 5), (3, 3), (2, 3.5), (1, 4.0)))
    assert (turned.best_step, turned.final_step, turned.final_val_loss) == (10, 30, 4.0)


def test_copied_words_finds_the_longest_run_of_whole_words_the_sample_took_from_the_text():
    text = "The cat sat on the mat and looked at the grey sea.\nIt was a cold day in the north."
    sample = "Once upon the cat sat on the mat and looked at the grey sky"
    assert copied_words(sample, "Once upon", text) == "cat sat on the mat and looked at the grey"  # "The" ≠ "the"
    assert copied_words(sample, "Once upon", text, min_words=20) is None
    assert copied_words("Once upon a cold day in the north it", "Once upon", text) is None  # 6 words: under 8
    partial = copied_words("x he cat sat on the mat and looked at", "x", text)
    assert partial == "cat sat on the mat and looked at"  # whole words: "he" is not the end of "The"
