"""Lesson files (ui/lessons): the shipped lessons read and compute on both untrained models, answers are
graded against hand-computed ones, and each kind of mistake in a file is named with its line."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gptcore import get_tokenizer, gradient_norms, trace
from gptcore.edits import HeadAblation, run_with_edits
from gptcore.gradients import lm_loss
from ui.frame import URL_PATHS as APP_URL_PATHS
from ui.lessons.catalog import load_lessons
from ui.lessons.format import LessonError, Measure, Question, read_lesson
from ui.lessons.measures import Computed, Reading, check_measure, check_options, compute, grade
from ui.lessons.measures.core import read_number

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
URL_PATHS = set(APP_URL_PATHS)


def reading(model, name: str, prompt: str = "Every effort moves you") -> Reading:
    """What a measure reads: ``model`` as the selected one, tracing prompts with the engine itself."""
    return Reading(model.cfg, name, prompt, lambda text: trace(model, get_tokenizer().encode(text)), model)


@pytest.fixture(scope="module", params=["tiny", "book-124m"])
def reading_for(request, tiny_model, book_model):
    model = tiny_model if request.param == "tiny" else book_model
    return lambda prompt: reading(model, request.param, prompt)


def shipped() -> list[Path]:
    return sorted(LESSONS.glob("*.md"))


def questions(name: str) -> list[Question]:
    return [step.question for step in read_lesson(LESSONS / name, URL_PATHS).steps if step.question is not None]


def test_at_least_nine_lessons_ship_with_questions():
    assert len(shipped()) >= 9
    for path in shipped():
        assert any(step.question for step in read_lesson(path, URL_PATHS).steps), path.name


@pytest.mark.parametrize("path", shipped(), ids=lambda path: path.stem)
def test_every_shipped_lesson_reads_and_every_answer_computes(path, reading_for):
    lesson = read_lesson(path, URL_PATHS)
    assert lesson.title and lesson.steps
    for step in lesson.steps:
        if step.question is None:
            continue
        assert check_measure(step.question.answer) is None
        computed = compute(step.question.answer, reading_for(step.view.get("prompt", "Every effort moves you")))
        assert computed.why
        if step.question.kind == "choice":
            assert computed.value in range(len(step.question.options))
        if step.question.kind == "token":
            assert computed.value in range(len(get_tokenizer().encode(step.view["prompt"])))


def test_tokens_and_embeddings(book_model):
    count, size, table = questions("01-tokens.md")
    book = reading(book_model, "book", "Every effort moves you, unbelievably")
    assert compute(count.answer, book).value == len(get_tokenizer().encode("Every effort moves you, unbelievably"))
    assert compute(size.answer, book).value == 768
    computed = compute(table.answer, book)
    assert computed.value == book_model.tok_emb.weight.numel() == 38_597_376
    assert grade(table, "38,600,000", computed).correct and not grade(table, "50257", computed).correct


def test_attention_and_the_causal_mask(book_model):
    strongest, future, itself, read = questions("02-attention.md")
    book = reading(book_model, "book")
    weights = trace(book_model, get_tokenizer().encode("Every effort moves you")).attention(0)[3]  # (T, T)
    expected = int(np.argmax(weights[-1]))
    computed = compute(strongest.answer, book)
    assert computed.value == expected
    assert grade(strongest, expected, computed).correct and not grade(strongest, (expected + 1) % 4, computed).correct
    assert compute(future.answer, book).value == 0.0  # the mask: exactly 0
    assert compute(itself.answer, book).value == pytest.approx(1.0)
    computed = compute(read.answer, book)
    assert computed.value == pytest.approx(weights[1, 0])
    assert grade(read, f"{weights[1, 0] + 0.004:.4f}", computed).correct  # two decimals: within 0.005
    assert not grade(read, f"{weights[1, 0] + 0.006:.4f}", computed).correct


def test_multi_head_attention(book_model):
    size, previous = questions("03-multihead.md")
    prompt = "The cat sat on the mat because it was tired"
    book = reading(book_model, "book", prompt)
    assert compute(size.answer, book).value == 64
    weights = trace(book_model, get_tokenizer().encode(prompt)).attention(0)  # (H, T, T)
    below_diagonal = np.array([np.diagonal(head, offset=-1).mean() for head in weights])  # (H,)
    assert compute(previous.answer, book).value == int(np.argmax(below_diagonal))


def test_layernorm(book_model):
    widest, variance, parameters = questions("04-layernorm.md")
    book = reading(book_model, "book")
    stream = trace(book_model, get_tokenizer().encode("Every effort moves you")).embeddings  # enters block 0
    assert compute(widest.answer, book).value == int(np.argmax(stream.var(axis=-1)))
    # An untrained LayerNorm's scale is 1 and shift 0, so its own output is the normalised vector.
    normalised = book_model.trf_blocks[0].norm1(torch.from_numpy(np.array(stream))).detach().numpy()
    computed = compute(variance.answer, book)
    assert computed.value == pytest.approx(float(normalised.var(axis=-1).mean()), abs=1e-5)
    assert grade(variance, "1.0000", computed).correct and not grade(variance, "0.99", computed).correct
    assert compute(parameters.answer, book).value == sum(p.numel() for p in book_model.trf_blocks[0].norm1.parameters())


def test_feedforward_and_gelu(book_model):
    gelu, parameters, active = questions("05-feedforward.md")
    book = reading(book_model, "book", "The capital of France is Paris")
    # GELU's tanh approximation at -1: 0.5 * -1 * (1 + tanh(sqrt(2 / pi) * (-1 - 0.044715))) = -0.1588.
    computed = compute(gelu.answer, book)
    assert computed.value == pytest.approx(-0.158808, abs=1e-6)
    assert grade(gelu, "-0.16", computed).correct and not grade(gelu, "0", computed).correct
    # One block's feed-forward in GPT-2 124M: 768 x 3072 + 3072 + 3072 x 768 + 768 (the book's 4,722,432).
    computed = compute(parameters.answer, book)
    assert computed.value == 4_722_432 == sum(p.numel() for p in book_model.trf_blocks[0].ff.parameters())
    assert grade(parameters, "4,700,000", computed).correct and not grade(parameters, "4,600,000", computed).correct
    assert not grade(parameters, "many", computed).correct
    gelu_out = trace(book_model, get_tokenizer().encode("The capital of France is Paris")).layer("gelu", 0)
    assert compute(active.answer, book).value == int(np.unravel_index(np.argmax(gelu_out), gelu_out.shape)[0])


def test_shortcuts_and_gradients(book_model):
    weakest, gain, stronger = questions("06-shortcuts.md")
    book = reading(book_model, "book", "Every effort moves you forward")
    # The book's printed gradients without shortcuts: 0.000202, 0.000120, 0.000715, 0.001399, 0.005050.
    assert compute(weakest.answer, book).value == 1  # the second layer
    # With shortcuts the first layer's is 0.2217: about 1,100 times the 0.000202 without.
    assert compute(gain.answer, book).value == pytest.approx(0.22169792 / 0.00020173588, rel=1e-3)
    ids = get_tokenizer().encode("Every effort moves you forward")
    # As the Residual page charts it: block 0's gradient as a multiple of the last block's.
    on, off = (
        gradient_norms(book_model, ids, use_shortcut=flag).stream_gradient_relative()[0] for flag in (True, False)
    )
    assert compute(stronger.answer, book).value == int(off > on)


def test_generation_and_temperature(book_model):
    top, surer, sharper, top_at_two = questions("07-generation.md")
    book = reading(book_model, "book", "The capital of France is")
    logits = trace(book_model, get_tokenizer().encode("The capital of France is")).last_logits.astype(np.float64)

    def top_share(temperature: float) -> float:
        scaled = logits / temperature
        return float(np.exp(scaled.max() - scaled.max()) / np.exp(scaled - scaled.max()).sum())

    assert compute(top.answer, book).value == pytest.approx(top_share(1.0) * 100)
    assert compute(top_at_two.answer, book).value == pytest.approx(top_share(2.0) * 100)
    assert compute(sharper.answer, book).value == 0  # 0.5 sharpens, 2 flattens
    tops = []
    for text in ("The capital of France is", "I went to the"):
        scores = trace(book_model, get_tokenizer().encode(text)).last_logits.astype(np.float64)
        tops.append(1 / np.exp(scores - scores.max()).sum())
    assert compute(surer.answer, book).value == int(tops[1] > tops[0])


def test_training_and_the_loss(book_model):
    uniform, loss = questions("08-training.md")
    book = reading(book_model, "book", "Every effort moves you forward")
    assert compute(uniform.answer, book).value == pytest.approx(10.8249, abs=1e-4)  # ln(50,257)
    ids = torch.tensor(get_tokenizer().encode("Every effort moves you forward"))
    with torch.no_grad():
        expected = float(lm_loss(book_model(ids[None])[0], ids))
    assert compute(loss.answer, book).value == pytest.approx(expected, rel=1e-4)


def test_experiments(tiny_model):
    change, layer = questions("09-experiments.md")
    tiny = reading(tiny_model, "tiny", "The capital of France is")
    ids = get_tokenizer().encode("The capital of France is")

    def next_token_probabilities(*edits) -> torch.Tensor:
        return torch.softmax(torch.from_numpy(run_with_edits(tiny_model, ids, list(edits))[-1]).double(), -1)

    before, after = next_token_probabilities(), next_token_probabilities(HeadAblation(0, 3))
    token = int(before.argmax())
    assert compute(change.answer, tiny).value == pytest.approx(float(after[token] - before[token]) * 100, rel=1e-3)
    # The head whose removal costs the top token most, found one ablation at a time.
    cfg = tiny_model.cfg
    costs = np.array(
        [
            [float(next_token_probabilities(HeadAblation(L, H))[token]) for H in range(cfg.n_heads)]
            for L in range(cfg.n_layers)
        ]
    )  # (L, H)
    assert compute(layer.answer, tiny).value == int(np.unravel_index(np.argmin(costs), costs.shape)[0])


def test_the_untrained_models_differ_and_each_is_graded_against_its_own(tiny_model, book_model):
    question = questions("02-attention.md")[0]
    answers = {
        name: compute(question.answer, reading(model, name))
        for name, model in (("tiny", tiny_model), ("book", book_model))
    }
    assert answers["tiny"].why != answers["book"].why  # different weights, different numbers


def test_a_measure_that_cannot_compute_says_why(book_model):
    short = reading(book_model, "book", "Hello")
    for name in ("prompt_loss", "previous_token_head"):
        arguments = {"layer": 0} if name == "previous_token_head" else {}
        with pytest.raises(ValueError, match="two tokens"):
            compute(Measure(name, arguments, 1), short)
    with pytest.raises(ValueError, match="outside the prompt"):
        compute(Measure("attention_weight", {"layer": 0, "head": 0, "query": 0, "key": 9}, 1), short)
    with pytest.raises(ValueError, match="prompt is empty"):
        compute(Measure("token_count", {}, 1), reading(book_model, "book", "  "))


BROKEN = {
    "no front matter": ("## Step\npage: attention\n", 1, "front matter"),
    "no title": ("---\nchapter: 4\n---\n## Step\n", 1, "needs a title"),
    "unknown page": ("---\ntitle: T\n---\n## Step\npage: attentoin\n", 5, "unknown page 'attentoin'"),
    "unknown setting": ("---\ntitle: T\n---\n## Step\nlayr: 1\n", 5, "unknown setting 'layr'"),
    "bad kind": (
        "---\ntitle: T\n---\n## Step\n\n? Why?\nkind: essay\nanswer: feedforward_parameters()\n",
        7,
        "kind is one of",
    ),
    "no answer": ("---\ntitle: T\n---\n## Step\n\n? Why?\nkind: number\n", 6, "no 'answer:' line"),
    "bad measure": (
        "---\ntitle: T\n---\n## Step\n\n? Why?\nkind: number\nanswer: 2 + 2\n",
        8,
        "an answer is a measure",
    ),
    "choice without options": (
        "---\ntitle: T\n---\n## Step\n\n? Which?\nkind: choice\nanswer: surer_prompt(first='a', second='b')\n",
        6,
        "needs 'options:",
    ),
    "no steps": ("---\ntitle: T\n---\nJust text.\n", 4, "before the first step"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_a_mistake_in_a_lesson_file_names_its_file_and_line(name, tmp_path):
    text, line, message = BROKEN[name]
    path = tmp_path / "broken.md"
    path.write_text(text)
    with pytest.raises(LessonError) as raised:
        read_lesson(path, URL_PATHS)
    assert raised.value.line == line and message in str(raised.value)
    assert str(raised.value).startswith(f"broken.md, line {line}:")


def test_measures_that_do_not_exist_or_do_not_fit_are_named(tmp_path, book_model):
    path = tmp_path / "measures.md"
    path.write_text(
        "---\ntitle: T\n---\n## A\n\n? Q\nkind: number\nanswer: head_count()\n"
        "## B\n\n? Q\nkind: token\nanswer: strongest_key(layer=0)\n"
        "## C\n\n? Q\nkind: token\nanswer: strongest_key(layer=12, head=0)\n"
    )
    unknown, missing, outside = (step.question.answer for step in read_lesson(path, URL_PATHS).steps)
    assert "unknown measure 'head_count'" in check_measure(unknown)
    assert "missing a required argument: 'head'" in check_measure(missing)
    assert check_measure(outside) is None  # it fits; only the model can say layer 12 is outside it
    reading = Reading(
        book_model.cfg, "book", "Every effort", lambda text: trace(book_model, get_tokenizer().encode(text))
    )
    with pytest.raises(ValueError, match="layer"):
        compute(outside, reading)


def test_typed_numbers_are_read_as_people_write_them():
    assert [read_number(text) for text in ("4,722,432", "12.5%", "\u22120.16", "0,16", " 1 000 ", "1,000")] == [
        4_722_432, 12.5, -0.16, 0.16, 1000, 1000,
    ]  # fmt: skip
    with pytest.raises(ValueError):
        read_number("about zero")


def test_a_word_for_a_number_is_not_graded():
    question = Question("How many?", "number", Measure("head_size", {}, 1))
    verdict = grade(question, "many", Computed(64, "64 numbers per head."))
    assert verdict.correct is None and "not a number" in verdict.why and "64" not in verdict.why


def test_argument_types_and_choice_options_are_checked():
    assert "layer should be a int, not '0'" in check_measure(Measure("strongest_key", {"layer": "0", "head": 3}, 1))
    assert "should be a int, not True" in check_measure(Measure("strongest_key", {"layer": True, "head": 3}, 1))
    assert check_measure(Measure("top_probability", {"temperature": 2}, 1)) is None  # an int is a float
    surer = Measure("surer_prompt", {"first": "a b", "second": "c d"}, 1)
    assert check_options(surer, ("a b", "c d")) is None
    assert "write 'options: a b | c d'" in check_options(surer, ("c d", "a b"))
    assert check_options(Measure("surer_temperature", {"first": 0.5, "second": 2.0}, 1), ("0.5", "2")) is None


def test_a_measure_reads_back_as_the_file_writes_it(tmp_path):
    path = tmp_path / "call.md"
    path.write_text(
        '---\ntitle: T\n---\n## A\n\n? Q\nkind: choice\noptions: a | b\nanswer: surer_prompt(first="a", second="b")\n'
    )
    assert read_lesson(path, URL_PATHS).steps[0].question.answer.call == "surer_prompt(first='a', second='b')"


def test_the_catalog_leaves_out_a_lesson_with_an_unknown_model_or_measure(tmp_path, monkeypatch):
    (tmp_path / "a-model.md").write_text("---\ntitle: A\n---\n## One\nmodel: gpt2-smal\n")
    (tmp_path / "b-measure.md").write_text("---\ntitle: B\n---\n## One\n\n? Q\nkind: number\nanswer: head_count()\n")
    (tmp_path / "c-good.md").write_text("---\ntitle: C\n---\n## One\nmodel: tiny-seed123\n")
    monkeypatch.setenv("GPT_EXPLORER_LESSONS", str(tmp_path))
    lessons, problems = load_lessons()
    assert [lesson.slug for lesson in lessons] == ["c-good"]
    assert [str(problem).split(":")[0] for problem in problems] == ["a-model.md, line 5", "b-measure.md, line 8"]
    assert "unknown model 'gpt2-smal'" in str(problems[0]) and "unknown measure 'head_count'" in str(problems[1])


def test_a_long_question_may_wrap(tmp_path):
    path = tmp_path / "wrapped.md"
    path.write_text(
        "---\ntitle: T\n---\n## A\n\n? How many\nnumbers per head?\nkind: number\nanswer: head_size()\ntolerance: 2%\n"
        "## B\n\n? Which?\nkind: choice\noptions: a | b\nanswer: surer_prompt(first='a', second='b')\n"
    )
    wrapped, choice = (step.question for step in read_lesson(path, URL_PATHS).steps)
    assert wrapped.text == "How many numbers per head?" and wrapped.kind == "number" and wrapped.tolerance == 0.02
    assert choice.text == "Which?" and choice.options == ("a", "b")


@pytest.mark.parametrize("path", shipped(), ids=lambda path: path.stem)
def test_every_shipped_question_reads_as_written(path):
    """Each question's text is the text after its '? ', with any wrapped lines joined."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for step in read_lesson(path, URL_PATHS).steps:
        if step.question is not None:
            first = lines[step.question.line - 1][2:]
            assert step.question.text.startswith(first.strip()) and step.question.text.endswith(("?", ")"))
