"""Sentences that read a page's numbers aloud: what a chart shows, with this prompt's or this run's numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from gptcore.memorisation import Memorising

if TYPE_CHECKING:
    from .decoding_controls import Settings

RELATIVE = "stream gradient ÷ last block's"


def what_the_gradients_show(frame: pd.DataFrame, last: int) -> str:
    """The charts in words, with this prompt's numbers: what shrinks, and why the weights' gradients do not."""
    on, off = (frame[frame["setting"] == setting].set_index("block") for setting in ("shortcuts on", "shortcuts off"))
    weights_ratio = float((off["parameter gradient norm"] / on["parameter gradient norm"]).median())
    inner = slice(1, None)  # the stream entering block 0 is the embeddings in both settings
    return (
        f"**What the charts show.** With shortcuts on, the gradient reaching block 0's stream is "
        f"{on.loc[0, RELATIVE]:.2f} × the one reaching block {last}'s: the shortcuts carry it back undiminished. "
        f"With shortcuts off it is {off.loc[0, RELATIVE]:.2f} ×, and between the first and last block it moves "
        f"from {off[RELATIVE].min():.2f} × to {off[RELATIVE].max():.2f} ×: every block's own slope multiplies it "
        "on the way back.\n\n"
        "**Why the weights' gradients do not shrink here**, as the book's five-layer experiment below would "
        f"lead you to expect (they are {weights_ratio:.2g} × as large without shortcuts, block for block): this GPT "
        "normalises the stream at the start of every sublayer (LayerNorm, *pre-norm*). LayerNorm divides its "
        "input by the input's standard deviation, so on the way back it multiplies the gradient by one over that "
        "deviation. Without shortcuts each block reads only the previous block's output, which is small: the "
        f"stream entering blocks 1 to {last} has a standard deviation of about "
        f"{off['stream standard deviation'].iloc[inner].median():.2f} instead of "
        f"{on['stream standard deviation'].iloc[inner].median():.2f}, so every LayerNorm scales the gradient "
        "up again. The book's toy network has no normalisation, so nothing undoes the shrinking there. "
        "What shortcuts do for this GPT is keep the *stream's* gradient steady from block to block, so that "
        "every block learns from the same signal.\n\n"
        f"**The two losses** ({on['loss'].iloc[0]:.3f} and {off['loss'].iloc[0]:.3f}) say how wrong each setting "
        "is about the prompt's next tokens. Guessing all 50,257 tokens equally scores ln 50,257 ≈ 10.82. An "
        "untrained model is about that clueless either way, so for it the gap between the two losses says "
        "nothing about shortcuts; pick a trained model to see how much it has come to rely on them."
    )


def sampling_note(settings: Settings) -> str:
    """What a probability means under sampling: the distribution the draw used, not the model's own."""
    kept = [
        *([f"only the {settings.top_k} most likely tokens kept"] if settings.top_k else []),
        *([f"only the most likely tokens adding up to {settings.top_p:g} kept"] if settings.top_p else []),
    ]
    return (
        "With sampling the chosen token need not be the longest bar. These probabilities are the ones the draw "
        f"used: the model's scores divided by the temperature ({settings.temperature:g})"
        + ("".join(f", then {step}" for step in kept))
        + ", and the kept ones renormalised to add up to 100%."
        + (
            " Every kept token's share grows when the others are cut out, so these read higher than the model's "
            "own probabilities, which greedy decoding shows."
            if kept
            else ""
        )
    )


def memorising_message(memorising: Memorising) -> str:
    return (
        f"**The model started memorising around step {memorising.best_step}.** From there the validation loss "
        f"rose ({memorising.best_val_loss:.2f} → {memorising.final_val_loss:.2f}) while the training loss kept "
        f"falling ({memorising.train_loss_at_best:.2f} → {memorising.final_train_loss:.2f}): it got better at "
        "its training text and worse at text it has not read. The model at step "
        f"{memorising.best_step} (the dashed line) is the one that writes new text best. Fewer steps, a longer "
        "text or a smaller model would memorise less."
    )
