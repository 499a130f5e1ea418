"""Text generation: the book's greedy loop, and a KV-cached sampler that can report every step.

Prompts longer than the model's context are cropped to their last ``context_size`` tokens, as in
the book. While the text fits in the context, the KV cache lets each step feed only the newest
token. Once it no longer fits, every position would shift, so each step recomputes the cropped
window from scratch, exactly like ``generate_text_simple``: the tokens are the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from .device import model_device
from .model import GPTModel
from .tokenizer import get_tokenizer

MAX_NEW_TOKENS_LIMIT = 100_000  # far beyond any classroom use; larger requests are a mistake


def generate_text_simple(model: GPTModel, idx: torch.Tensor, max_new_tokens: int, context_size: int) -> torch.Tensor:
    """The book's greedy loop: (b, T) ids -> (b, T + max_new_tokens) ids, no cache."""
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]  # crop to the supported context
        with torch.no_grad():
            logits = model(idx_cond)
        logits = logits[:, -1, :]  # (b, vocab) the prediction after the last token
        probas = torch.softmax(logits, dim=-1)
        idx_next = torch.argmax(probas, dim=-1, keepdim=True)  # (b, 1)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx


@dataclass(frozen=True)
class Candidate:
    token_id: int
    prob: float


@dataclass(frozen=True)
class Step:
    """One generated token and what the model was choosing between."""

    index: int  # 0 for the first new token
    token_id: int  # the token that was chosen
    prob: float  # its probability in the distribution it was drawn from
    rank: int  # 1 when it was the most likely candidate
    candidates: tuple[Candidate, ...]  # the most likely tokens, most likely first


def _check_generation_args(
    model: GPTModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
) -> None:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise ValueError(f"max_new_tokens must be an integer, got {max_new_tokens!r}")
    if not 0 <= max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
        raise ValueError(f"max_new_tokens must be between 0 and {MAX_NEW_TOKENS_LIMIT}, got {max_new_tokens}")
    if not 1 <= context_size <= model.cfg.context_length:
        raise ValueError(
            f"context_size must be between 1 and the model's context_length "
            f"{model.cfg.context_length}, got {context_size}"
        )
    if not temperature >= 0.0:
        raise ValueError(f"temperature must be 0 (greedy) or positive, got {temperature!r}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1 (or None for no limit), got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (or None for no limit), got {top_p}")
    if idx.dim() != 2:
        raise ValueError(f"token ids must have shape (batch, num_tokens), got {tuple(idx.shape)}")
    model.check_token_ids(idx[:, -context_size:])  # only the window the model will read


def next_token_distribution(
    logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Logits (b, vocab) -> probabilities (b, vocab) after temperature, top-k and top-p.

    Temperature 0 means greedy decoding; the distribution shown for it is the plain softmax
    (temperature 1) with the same filters, so a student still sees how sure the model was.
    """
    if temperature > 0.0:
        logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth_best = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (b, 1)
        logits = logits.masked_fill(logits < kth_best, -torch.inf)
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # Keep the smallest set of top tokens whose total reaches top_p (always at least one).
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


class _Decoder:
    """Feeds a growing sequence through the model, with a KV cache while it fits the context."""

    def __init__(self, model: GPTModel, idx: torch.Tensor, context_size: int, max_new_tokens: int) -> None:
        self.model = model
        self.context_size = context_size
        self.idx = idx
        self.pending = idx[:, -context_size:]  # tokens the cache has not seen yet
        # Room for every position the cache can ever hold in this run, not the whole context.
        self.cache = model.new_cache(capacity=min(context_size, self.pending.shape[1] + max_new_tokens))

    def next_logits(self) -> torch.Tensor:
        """(b, vocab) logits for the token after the current sequence."""
        if self.cache.length + self.pending.shape[1] > self.context_size:
            # The window slides: positions change, so recompute the cropped window without a cache.
            hidden = self.model.hidden_states(self.idx[:, -self.context_size :])
        else:
            hidden = self.model.hidden_states(self.pending, self.cache)
        return self.model.out_head(hidden[:, -1, :])  # only the last position is needed here

    def append(self, idx_next: torch.Tensor) -> None:
        self.idx = torch.cat((self.idx, idx_next), dim=1)
        self.pending = idx_next


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)


def _choose(probs: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    if temperature == 0.0:
        return torch.argmax(probs, dim=-1, keepdim=True)  # (b, 1)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (b, 1)


@torch.no_grad()
def _sample(
    model: GPTModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    eos_id: int | None,
    seed: int | None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The decoding loop of generate and generate_steps: yields (probs (b, vocab), chosen ids (b, 1)).

    With eos_id, a sequence that produced it keeps producing it, and the loop ends once all have.
    ``seed`` seeds a private generator, never the global one.
    """
    _check_generation_args(model, idx, max_new_tokens, context_size, temperature, top_k, top_p)
    idx = idx.to(model_device(model))  # the ids go where the model is (a no-op on the CPU)
    decoder = _Decoder(model, idx, context_size, max_new_tokens)
    generator = _generator(seed, idx.device)
    finished = torch.zeros(idx.shape[0], 1, dtype=torch.bool, device=idx.device)
    for _ in range(max_new_tokens):
        probs = next_token_distribution(decoder.next_logits(), temperature, top_k, top_p)
        idx_next = _choose(probs, temperature, generator)
        if eos_id is not None:
            idx_next = idx_next.masked_fill(finished, eos_id)
            finished |= idx_next == eos_id
        decoder.append(idx_next)
        yield probs, idx_next
        if eos_id is not None and bool(finished.all()):
            return


def generate(
    model: GPTModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """(b, T) ids -> (b, T + n) ids, n <= max_new_tokens; temperature 0 is greedy.

    With eos_id, generation stops once every sequence has produced it; sequences that finished
    early are padded with eos_id.
    """
    sampled = _sample(model, idx, max_new_tokens, context_size, temperature, top_k, top_p, eos_id, seed)
    return torch.cat([idx, *(idx_next for _, idx_next in sampled)], dim=1)


def generate_steps(
    model: GPTModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    seed: int | None = None,
    num_candidates: int = 10,
) -> Iterator[Step]:
    """Generate for one sequence, yielding a Step per new token: the data behind "watch it write".

    Takes the same arguments as ``generate`` and chooses the same tokens; ``idx`` is (1, T) or (T,).
    Each Step lists the ``num_candidates`` most likely tokens of the distribution the token was
    drawn from (after temperature, top-k and top-p), so filtered-out tokens show probability 0.
    """
    if idx.dim() == 1:
        idx = idx.unsqueeze(0)
    if idx.dim() != 2 or idx.shape[0] != 1:
        raise ValueError(f"generate_steps follows one sequence: expected ids of shape (1, T), got {tuple(idx.shape)}")
    if num_candidates < 1:
        raise ValueError(f"num_candidates must be at least 1, got {num_candidates}")
    sampled = _sample(model, idx, max_new_tokens, context_size, temperature, top_k, top_p, eos_id, seed)
    for index, (probs, idx_next) in enumerate(sampled):
        yield steps_of_rows([index], probs, idx_next[:, 0], num_candidates)[0]


def steps_of_rows(
    indices: Sequence[int], probs: torch.Tensor, tokens: torch.Tensor | None, num_candidates: int
) -> list[Step]:
    """The Steps for tokens (m,) chosen from distributions (m, vocab): probability, rank, top candidates.

    Row i is step number ``indices[i]`` of its own sequence: one sequence here, many in a DecodeBatch.
    ``tokens=None`` means greedy: each row's most likely token, read off the candidates.
    """
    top = torch.topk(probs, min(max(num_candidates, 2), probs.shape[-1]))  # (m, k) each, most likely first
    if tokens is None:
        tokens = _most_likely(probs, top)
        chosen_probs = top.values[:, :1]  # (m, 1): the largest probability, whichever id holds it
        ranks = torch.ones(len(tokens), dtype=torch.long)  # nothing is more likely than the most likely
    else:
        chosen_probs = probs.gather(1, tokens[:, None])  # (m, 1)
        ranks = (probs > chosen_probs).sum(dim=-1) + 1  # (m,)
    top_ids, top_probs = top.indices[:, :num_candidates].tolist(), top.values[:, :num_candidates].tolist()
    return [
        Step(
            index=index,
            token_id=int(tokens[row]),
            prob=float(chosen_probs[row, 0]),
            rank=int(ranks[row]),
            candidates=tuple(Candidate(i, p) for i, p in zip(top_ids[row], top_probs[row], strict=True)),
        )
        for row, index in enumerate(indices)
    ]


def _most_likely(probs: torch.Tensor, top: torch.return_types.topk) -> torch.Tensor:
    """(m,) torch.argmax(probs, dim=-1) without another pass over the vocabulary: topk's first id,
    except where the top two are equal, whose order topk leaves open (there argmax picks the first id)."""
    tokens = top.indices[:, 0].clone()
    if top.values.shape[1] > 1:
        tied = top.values[:, 0] == top.values[:, 1]
        if bool(tied.any()):
            tokens[tied] = probs[tied].argmax(dim=-1)
    return tokens


# Tables for the Generate page.


def split_generated_text(prompt_ids: Sequence[int], new_ids: Sequence[int]) -> tuple[str, str]:
    """(prompt text, generated text), each decoded from all of its tokens' bytes at once.

    One character can span several tokens (an emoji often takes two or three), so the generated
    tokens are decoded together, not one by one. Bytes that do not (yet) form a whole UTF-8
    character show as U+FFFD, e.g. while an emoji is half written.
    """
    tokenizer = get_tokenizer()
    return (
        tokenizer.decode_bytes(list(prompt_ids)).decode("utf-8", errors="replace"),
        tokenizer.decode_bytes(list(new_ids)).decode("utf-8", errors="replace"),
    )
