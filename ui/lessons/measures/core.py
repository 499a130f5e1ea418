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
    correct: bool | None  # None: the answer could not be read (a word for a number), so it is not graded
    why: str


MEASURES: dict[str, Callable[..., Computed]] = {}


def measure(function: Callable[..., Computed]) -> Callable[..., Computed]:
    """Offer ``function`` to lesson files under its own name: ``answer: name(argument=value)``."""
    MEASURES[function.__name__] = function
    return function


# The literal types a lesson file may pass, by the annotations the measures use.
_ARGUMENT_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def check_measure(measure: Measure) -> str | None:
    """What is wrong with a lesson's measure (an unknown name, arguments that do not fit), or None."""
    function = MEASURES.get(measure.name)
    if function is None:
        return f"unknown measure {measure.name!r}; the measures are {', '.join(sorted(MEASURES))}"
    signature = inspect.signature(function)
    try:
        signature.bind(None, **measure.arguments)
    except TypeError as error:
        return f"{measure.name}: {error}"
    for name, value in measure.arguments.items():
        wanted = str(signature.parameters[name].annotation)
        allowed = _ARGUMENT_TYPES.get(wanted, (object,))
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            return f"{measure.name}: {name} should be a {wanted}, not {value!r}"
    return None


# A choice between a measure's own arguments: the options must be those arguments, in order, since
# the measure answers with an argument's index.
CHOICES_FROM_ARGUMENTS = {"surer_prompt": ("first", "second"), "surer_temperature": ("first", "second")}


def check_options(measure: Measure, options: tuple[str, ...]) -> str | None:
    """What is wrong with a choice question's options for its measure, or None."""
    names = CHOICES_FROM_ARGUMENTS.get(measure.name)
    if names is None:
        return None
    expected = tuple(_option_text(measure.arguments[name]) for name in names if name in measure.arguments)
    if tuple(options) != expected:
        return f"{measure.name} answers with one of {' | '.join(expected)}: write 'options: {' | '.join(expected)}'"
    return None


def _option_text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def compute(measure: Measure, reading: Reading) -> Computed:
    """The measure's answer on the reading's model; a ValueError says why it cannot be computed."""
    return MEASURES[measure.name](reading, **measure.arguments)


def read_number(text: str) -> float:
    """A typed number: '4,722,432', '12.5%', '0,16' (a decimal comma), or with a typographic minus (U+2212)."""
    typed = str(text).strip().replace("−", "-").removesuffix("%").replace(" ", "")
    integer, comma, decimals = typed.partition(",")
    if comma and "," not in decimals and "." not in typed and len(decimals) != 3:
        typed = f"{integer}.{decimals}"  # one comma that cannot group thousands: a decimal comma
    return float(typed.replace(",", ""))


def grade(question: Question, given: float | str, computed: Computed) -> Verdict:
    """Whether ``given`` (a position, an option's index or a typed number) is right, and why."""
    if question.kind == "number":
        try:
            number = read_number(str(given))
        except ValueError:
            return Verdict(None, f"“{given}” is not a number: type digits, such as 0.25 or 4,722,432.")
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
