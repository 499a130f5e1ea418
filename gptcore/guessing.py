"""A student's guess of the next token, read as the model reads text and scored against its distribution.

The Class page's "predict the next token" rounds use these: the token a typed word stands for
after the prompt, and where that token stands among the model's predictions.
"""

from __future__ import annotations

import numpy as np
import tiktoken

from .tokenizer import get_tokenizer


def guessed_next_token(prompt: str, guess: str, tokenizer: tiktoken.Encoding | None = None) -> tuple[int, int]:
    """The token a guessed next word stands for after ``prompt``, and how many tokens the word has.

    A word that follows a word or a comma takes its space with it (GPT-2's tokens are "␣Paris", not
    "Paris"), so "Paris" after "The Eiffel Tower is in" is the token "␣Paris"; after an opening
    quote or a space it takes none. A word of several tokens stands for its first token: that is
    what the model predicts next.
    """
    tokenizer = tokenizer or get_tokenizer()
    guess = guess.strip()
    after_word = prompt[-1:].isalnum() or prompt[-1:] in tuple(".,;:!?)]}")  # not after a space, quote or bracket
    space = " " if after_word and guess[:1].isalnum() else ""
    prompt_ids = tokenizer.encode(prompt)
    joined = tokenizer.encode(prompt + space + guess)
    if joined[: len(prompt_ids)] == prompt_ids and len(joined) > len(prompt_ids):
        return joined[len(prompt_ids)], len(joined) - len(prompt_ids)
    alone = tokenizer.encode(space + guess)  # the prompt's last token merged with the guess: read it alone
    return alone[0], len(alone)


def probability_and_rank(probabilities: np.ndarray, token_id: int) -> tuple[float, int]:
    """(vocab,) next-token probabilities -> the token's probability, and its rank: 1 for the model's
    first choice, one more for every token the model finds strictly more likely."""
    probability = float(probabilities[token_id])
    return probability, int(np.count_nonzero(probabilities > probabilities[token_id])) + 1


def top_tokens(probabilities: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
    """The ``k`` most likely next tokens, most likely first, as (token id, probability)."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(token), float(probabilities[token])) for token in order]
