"""What every measure shares: the Reading it computes on, its Computed answer, the registry, and grading.

A measure takes the step's ``Reading`` (the selected model and a way to trace a prompt) and the
keyword arguments the lesson file gives, and returns the right answer with the sentence a student
sees after answering, which quotes the number that decided it. The untrained and the pretrained
model have different right answers, and each student is graded against their own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from gptcore import GPTConfig, GPTModel, Trace
from gptcore.tokenizer import token_label

from ..format import Measure, Question


def _no_turn(reserve: int, what: str) -> AbstractContextManager:
    return nullcontext()


@dataclass(frozen=True)
class Reading:
    """What a measure may read: the selected model, its id, the step's prompt, and traces.

    A measure that runs the model itself (a backward pass, an ablation) does it inside
    ``computing(reserve=bytes, what=...)``: on the server that takes a turn and reserves the memory.
    """

    cfg: GPTConfig
    model_id: str
    prompt: str
    trace_of: Callable[[str], Trace]  # a prompt's trace on the selected model
    model: GPTModel | None = None
    computing: Callable[..., AbstractContextManager] = _no_turn

    def trace(self) -> Trace:
        if not self.prompt.strip():
            raise ValueError("the step names no prompt and the sidebar's prompt is empty")
        return self.trace_of(self.prompt)

    def label(self, trace: Trace, position: int) -> str:
        return token_label(int(trace.token_ids[position]))

    def label_of_id(self, token_id: int) -> str:
        return token_label(int(token_id))


@dataclass(frozen=True)
class Computed:
    value: float  # a token's position (token), an option's index (choice) or a number
    why: str


@dataclass(frozen=True)
class Verdict:
    correct: bool
    why: str


MEASURES: dict[str, Callable[..., Computed]] = {}


def measure(function: Callable[..., Computed]) -> Callable[..., Computed]:
    """Offer ``function`` to lesson files under its own name: ``answer: name(argument=value)``."""
    MEASURES[function.__name__] = function
    return function


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
        typed = str(given).strip().replace(",", "").replace("−", "-").removesuffix("%").strip()
        try:
            number = float(typed)
        except ValueError:
            return Verdict(False, f"“{given}” is not a number. {computed.why}")
        allowed = question.tolerance * abs(computed.value) if question.relative else question.tolerance
        return Verdict(abs(number - computed.value) <= allowed, computed.why)
    return Verdict(int(given) == int(computed.value), computed.why)


def checked_layer(reading: Reading, layer: int) -> int:
    if not 0 <= layer < reading.cfg.n_layers:
        raise ValueError(f"layer {layer} does not exist; this model has layers 0 to {reading.cfg.n_layers - 1}")
    return layer


def checked_head(reading: Reading, head: int) -> int:
    if not 0 <= head < reading.cfg.n_heads:
        raise ValueError(f"head {head} does not exist; this model has heads 0 to {reading.cfg.n_heads - 1}")
    return head
