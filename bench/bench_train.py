"""Training speed: a 2-layer, 128-dim model from scratch on 20 kB of text, through the Train page's train().

The text is made here, deterministically, from a small grammar of simple English sentences, so
the benchmark needs no download and copies no one's writing. Figures: the time to reach the best
validation loss (the target is 2 minutes), the training tokens per second and the seconds per step.
The learning rate is 2e-3, not the app's default 5e-4: this small model takes it well and reaches
a lower validation loss in about a third of the steps (70 instead of 210 when measured).

On a CPU shared with other busy processes, one torch thread can be twice as fast as two (threads
wait for each other when one is descheduled); try --threads 1 there.

    .venv/bin/python -m bench.bench_train [--max-steps 300] [--limit-s 300] [--learning-rate 2e-3] [--threads N]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from dataclasses import dataclass

import torch

from gptcore.training import EvalReport, StepReport, TrainingSettings, new_training_model, train

PRESET = "2 layers · 128 dims · context 128"
TARGET_S = 120.0
LEARNING_RATE = 2e-3
PATIENCE = 5  # evaluations without a new best validation loss: the model has begun to overfit

_SUBJECTS = ["the old miller", "a young girl", "the fisherman", "her brother", "the teacher", "a tired horse",
             "the baker", "my grandmother", "the little dog", "a stranger", "the captain", "our neighbour"]  # fmt: skip
_VERBS = ["carried", "found", "painted", "sold", "mended", "watched", "followed", "remembered", "opened",
          "forgot", "lifted", "described"]  # fmt: skip
_OBJECTS = ["a basket of apples", "the broken gate", "an old map", "the blue boat", "a letter from the city",
            "the heavy door", "a loaf of bread", "the garden wall", "a silver spoon", "the quiet river"]  # fmt: skip
_PLACES = ["in the morning", "near the harbour", "after the storm", "before supper", "on the hill",
           "by the market", "under the bridge", "at the edge of the wood"]  # fmt: skip
_ENDINGS = ["and smiled", "without a word", "because it was needed", "while the rain fell",
            "and went home", "as the bells rang"]  # fmt: skip


def classroom_text(num_chars: int = 20_000, seed: int = 0) -> str:
    """Paragraphs of simple sentences drawn from a fixed grammar: learnable, yet not a loop."""
    rng = random.Random(seed)
    paragraphs, length = [], 0
    while length < num_chars:
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_PLACES)]
            if rng.random() < 0.5:
                words.append(rng.choice(_ENDINGS))
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        length += len(paragraph) + 2
    return "\n\n".join(paragraphs)[:num_chars]


@dataclass(frozen=True)
class TrainingFigures:
    steps: int
    initial_val_loss: float
    best_val_loss: float
    best_step: int
    seconds_to_best: float
    seconds_total: float
    tokens_per_s: float
    seconds_per_step: float
    sample: str  # the sample written at the best evaluation
    converged: bool  # False when the run ended (steps or time) while the validation loss was still falling

    def lines(self) -> list[str]:
        if not self.converged:
            verdict = "NOT met: still improving when the run ended"
        else:
            verdict = "met" if self.seconds_to_best <= TARGET_S else "NOT met"
        return [
            f"validation loss {self.initial_val_loss:.2f} -> best {self.best_val_loss:.2f} at step {self.best_step}",
            f"time to best validation loss   {self.seconds_to_best:7.1f} s (target {TARGET_S:.0f} s, {verdict})",
            f"training throughput            {self.tokens_per_s:7.0f} tokens/s ({self.seconds_per_step:.2f} s/step)",
            f"whole run                      {self.seconds_total:7.1f} s, {self.steps} steps",
            f"sample at the best step        {self.sample!r}",
        ]


def run(
    max_steps: int = 300, limit_s: float = 300.0, eval_every: int = 10, learning_rate: float = LEARNING_RATE
) -> TrainingFigures:
    """Train until validation loss stops improving (PATIENCE evaluations), max_steps or limit_s seconds."""
    text = classroom_text()
    settings = TrainingSettings(
        max_steps=max_steps, eval_every=eval_every, learning_rate=learning_rate, sample_prompt="The old miller"
    )
    stop = threading.Event()
    started = time.perf_counter()
    seconds_at: dict[int, float] = {}
    evaluations: list[EvalReport] = []
    last_step: list[StepReport] = []

    def on_step(report: StepReport) -> None:
        last_step[:] = [report]
        if time.perf_counter() - started > limit_s:
            stop.set()

    def on_eval(report: EvalReport) -> None:
        seconds_at[report.step] = time.perf_counter() - started
        evaluations.append(report)
        if evaluations_since_best() >= PATIENCE:
            stop.set()

    def evaluations_since_best() -> int:
        best = min(evaluations, key=lambda e: e.val_loss)
        return len(evaluations) - 1 - evaluations.index(best)

    model = new_training_model(PRESET, seed=123)
    train(model, text, settings, on_step=on_step, on_eval=on_eval, stop=stop)
    best = min(evaluations, key=lambda e: e.val_loss)
    final = last_step[0]
    return TrainingFigures(
        steps=final.step,
        initial_val_loss=evaluations[0].val_loss,
        best_val_loss=best.val_loss,
        best_step=best.step,
        seconds_to_best=seconds_at[best.step],
        seconds_total=time.perf_counter() - started,
        tokens_per_s=final.tokens_per_s,
        seconds_per_step=settings.batch_size * model.cfg.context_length / final.tokens_per_s,
        sample=best.sample,
        converged=evaluations_since_best() >= PATIENCE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--limit-s", type=float, default=300.0)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=1, help="accepted for bench.report; one run is enough")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {PRESET}, 20 kB of text, "
        f"learning rate {args.learning_rate:g}"
    )
    for line in run(args.max_steps, args.limit_s, learning_rate=args.learning_rate).lines():
        print(line)


if __name__ == "__main__":
    main()
