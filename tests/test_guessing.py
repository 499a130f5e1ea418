"""Reading a guessed word as the model's next token, and scoring it (gptcore/guessing.py)."""

import numpy as np

from gptcore.guessing import guessed_next_token, probability_and_rank, top_tokens
from gptcore.tokenizer import token_label


def label_and_length(prompt: str, guess: str) -> tuple[str, int]:
    token, length = guessed_next_token(prompt, guess)
    return token_label(token), length


def test_a_word_after_a_word_takes_its_space_and_long_words_are_their_first_token():
    assert label_and_length("The Eiffel Tower is in", "Paris") == ("␣Paris", 1)
    assert label_and_length("The Eiffel Tower is in", " Paris ") == ("␣Paris", 1)
    assert label_and_length("Hello,", "world") == ("␣world", 1)
    assert label_and_length("The Colosseum is in", "Colosseum") == ("␣Col", 4)


def test_after_a_space_a_quote_or_nothing_the_word_takes_no_space():
    assert label_and_length('I said "', "hi") == ("hi", 1)
    assert label_and_length("x ", "y") == ("y", 1)
    assert label_and_length("", "Hi") == ("Hi", 1)
    assert label_and_length("The end", ".") == (".", 1)


def test_rank_counts_the_tokens_strictly_more_likely():
    probabilities = np.array([0.1, 0.4, 0.2, 0.2, 0.1])
    assert probability_and_rank(probabilities, 1) == (0.4, 1)
    assert probability_and_rank(probabilities, 3) == (0.2, 2)  # ties share a rank
    assert probability_and_rank(probabilities, 4) == (0.1, 4)
    assert top_tokens(probabilities, 3) == [(1, 0.4), (2, 0.2), (3, 0.2)]
