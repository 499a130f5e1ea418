"""What a lesson's answers are computed from: measures of the live model the student has selected.

A measure takes the step's ``Reading`` (the model and a way to trace a prompt) and the keyword
arguments the lesson file gives, and returns the right answer with the sentence a student sees
after answering, which quotes the number that decided it. The right answer of the untrained and
of the pretrained model differ, and each student is graded against their own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gptcore import GPTConfig, Trace
from gptcore.tokenizer import token_label

from ..figures import percent
from .format import Measure, Question


@dataclass(frozen=True)
class Reading:
    """What a measure may read: the selected model's config, its id, the step's prompt, and traces."""

    cfg: GPTConfig
    model_id: str
    prompt: str
    trace_of: Callable[[str], Trace]  # a prompt's trace on the selected model


@dataclass(frozen=True)
class Computed:
    value: float  # a token's position (token), an option's index (choice) or a number
    why: str


@dataclass(frozen=True)
class Verdict:
    correct: bool
    why: str


def strongest_key(reading: Reading, layer: int, head: int) -> Computed:
    """The position the prompt's last token attends to most in one head: the argmax of its row."""
    trace = reading.trace_of(reading.prompt)
    row = trace.attention_head(layer, head)[-1]  # (T,)
    position = int(np.argmax(row))
    label = token_label(int(trace.token_ids[position]))
    return Computed(
        position,
        f"In layer {layer}, head {head}, the last token gives {percent(float(row[position]))} of its attention "
        f"to {label} (position {position}), more than to any other token.",
    )


def surer_prompt(reading: Reading, first: str, second: str) -> Computed:
    """Which of two prompts (0 or 1) gives its most likely next token the higher probability."""
    tops = [float(reading.trace_of(prompt).probabilities().max()) for prompt in (first, second)]
    surer = int(tops[1] > tops[0])
    return Computed(
        surer,
        f"The model's first choice after “{first}” has probability {percent(tops[0])}; after “{second}”, "
        f"{percent(tops[1])}.",
    )


def feedforward_parameters(reading: Reading) -> Computed:
    """The parameters of one block's feed-forward: two Linear layers, d -> 4d -> d, with their biases."""
    d = reading.cfg.emb_dim
    total = d * 4 * d + 4 * d + 4 * d * d + d
    return Computed(
        total,
        f"The first Linear layer has {d:,} x {4 * d:,} weights and {4 * d:,} biases, the second {4 * d:,} x {d:,} "
        f"weights and {d:,} biases: {total:,} in all.",
    )


MEASURES: dict[str, Callable[..., Computed]] = {
    function.__name__: function for function in (strongest_key, surer_prompt, feedforward_parameters)
}


def check_measure(measure: Measure) -> str | None:
    """What is wrong with a lesson's measure (an unknown name, arguments that do not fit), or None."""
    function = MEASURES.get(measure.name)
    if function is None:
        return f"unknown measure {measure.name!r}; the measures are {', '.join(sorted(MEASURES))}"
    try:
        inspect.signature(function).bind(None, **measure.arguments)
    except TypeError as error:
        return f"{measure.name}: {error}"
    return None


def compute(measure: Measure, reading: Reading) -> Computed:
    """The measure's answer on the reading's model; a ValueError says why it cannot be computed."""
    return MEASURES[measure.name](reading, **measure.arguments)


def grade(question: Question, given: float | str, computed: Computed) -> Verdict:
    """Whether ``given`` (a position, an option's index or a typed number) is right, and why."""
    if question.kind == "number":
        try:
            number = float(str(given).replace(",", ""))
        except ValueError:
            return Verdict(False, f"“{given}” is not a number. {computed.why}")
        allowed = question.tolerance * abs(computed.value) if question.relative else question.tolerance
        return Verdict(abs(number - computed.value) <= allowed, computed.why)
    return Verdict(int(given) == int(computed.value), computed.why)
