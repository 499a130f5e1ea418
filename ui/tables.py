"""Tables shaped for the pages: the engine's results as labelled pandas frames a page shows or offers as CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gptcore import PRESETS, GPTConfig, Step, Trace, size_mb
from gptcore.gradients import GradientReport
from gptcore.lens import stream_names, top_k
from gptcore.stats import size_report
from gptcore.tokenizer import token_label, token_labels

from .figures import percent

if TYPE_CHECKING:
    from .training import TrainingRun


def steps_frame(steps: Sequence[Step]) -> pd.DataFrame:
    """One row per generated token: step, label, id, its probability and its rank."""
    return pd.DataFrame(
        {
            "step": [step.index + 1 for step in steps],
            "token": [token_label(step.token_id) for step in steps],
            "token id": pd.array([step.token_id for step in steps], dtype="int64"),
            "probability": pd.array([step.prob for step in steps], dtype="float64"),
            "rank": pd.array([step.rank for step in steps], dtype="int64"),
        }
    )


def candidates_frame(step: Step) -> pd.DataFrame:
    """The candidates of one step, most likely first, with the chosen token marked.

    Candidates that top-k or top-p filtered out (probability 0) are left out: which of the many
    zero-probability tokens got listed is arbitrary. When sampling picked a token outside the
    listed candidates, it is added as a last row, so the chart always shows what was chosen. Bar
    labels carry the rank, so they are unique.
    """
    kept = [candidate for candidate in step.candidates if candidate.prob > 0 or candidate.token_id == step.token_id]
    ranks = list(range(1, len(kept) + 1))
    token_ids = [candidate.token_id for candidate in kept]
    probs = [candidate.prob for candidate in kept]
    if step.token_id not in token_ids:
        ranks.append(step.rank)
        token_ids.append(step.token_id)
        probs.append(step.prob)
    labels = token_labels(token_ids)
    return pd.DataFrame(
        {
            "rank": ranks,
            "token": labels,
            "bar": [f"#{rank} {label}" for rank, label in zip(ranks, labels, strict=True)],
            "token id": token_ids,
            "probability": probs,
            "chosen": [token_id == step.token_id for token_id in token_ids],
        }
    )


def shortcut_gradient_frame(with_shortcut: GradientReport, without_shortcut: GradientReport) -> pd.DataFrame:
    """Per-block gradient norms for shortcuts on and off, one row per (block, setting).

    The stream's gradient is the L2 norm of the gradient of the whole (T, emb_dim) stream entering
    the block, and the same as a multiple of the last block's.
    """
    rows = []
    for report in (with_shortcut, without_shortcut):
        setting = "shortcuts on" if report.use_shortcut else "shortcuts off"
        for block, (param_norm, stream_norm, relative, spread) in enumerate(
            zip(
                report.param_grad_norm,
                report.stream_gradient(),
                report.stream_gradient_relative(),
                report.resid_std,
                strict=True,
            )
        ):
            rows.append(
                {
                    "block": block,
                    "setting": setting,
                    "parameter gradient norm": float(param_norm),
                    "stream gradient norm": float(stream_norm),
                    "stream gradient ÷ last block's": float(relative),
                    "stream standard deviation": float(spread),
                    "loss": report.loss,
                }
            )
    return pd.DataFrame(rows)


def shortcut_experiment_frame(with_shortcut: Sequence[float], without_shortcut: Sequence[float]) -> pd.DataFrame:
    """The book's toy experiment as a table: layer, setting and mean absolute weight gradient."""
    if len(with_shortcut) != len(without_shortcut):
        raise ValueError(f"got {len(with_shortcut)} layers with shortcuts but {len(without_shortcut)} without")
    rows = [
        {"layer": layer, "setting": setting, "mean absolute gradient": float(value)}
        for setting, values in (("shortcuts on", with_shortcut), ("shortcuts off", without_shortcut))
        for layer, value in enumerate(values, start=1)
    ]
    return pd.DataFrame(rows)


def lens_position_frame(ids: np.ndarray, probs: np.ndarray, position: int) -> pd.DataFrame:
    """Long table of the logit lens at one position: one row per (stream place, rank)."""
    n_places, n_tokens, k = ids.shape
    if not -n_tokens <= position < n_tokens:
        raise ValueError(f"position {position} does not exist; the prompt has positions 0..{n_tokens - 1}")
    names = stream_names(n_places - 1)
    return pd.DataFrame(
        {
            "stream": np.repeat(names, k),
            "rank": np.tile(np.arange(1, k + 1), n_places),
            "token": token_labels(ids[:, position].reshape(-1).tolist()),  # (L + 1) * k labels, place-major
            "token id": ids[:, position].reshape(-1),
            "probability": probs[:, position].reshape(-1),
        }
    )


def lens_top_labels(ids: np.ndarray) -> np.ndarray:
    """(L + 1, T) readable label of the top-1 token at each place and position, for heatmap cells."""
    top = ids[..., 0]  # (L + 1, T)
    return np.array(token_labels(top.reshape(-1).tolist()), dtype=object).reshape(top.shape)


def last_position_lens_frame(ids: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """The logit lens at the last position only (``logit_lens(..., k=1, positions=slice(-1, None))``,
    (L + 1, 1, 1) each): one row per place in the stream with its top next token; the last row is
    the model's own prediction. Columns: stream, token, token id, probability."""
    top_ids, top_probs = ids[:, -1, 0], probs[:, -1, 0]  # (L + 1,)
    return pd.DataFrame(
        {
            "stream": stream_names(len(top_ids) - 1),
            "token": token_labels(top_ids.tolist()),
            "token id": top_ids,
            "probability": top_probs,
        }
    )


LAYERNORM_COLUMNS = {
    "norm": "norm",
    "position": "position",
    "token": "token",
    "mean_before": "mean before",
    "var_before": "variance before",
    "mean_after": "mean after",
    "var_after": "variance after",
}


def layernorm_table(stats: pd.DataFrame) -> pd.DataFrame:
    """gptcore's LayerNorm statistics under readable headers, rounded to one number of decimals.

    Six decimals show what four hide: a variance after the norm of 0.999995, not 1.
    """
    table = stats[list(LAYERNORM_COLUMNS)].rename(columns=LAYERNORM_COLUMNS)
    numbers = ["mean before", "variance before", "mean after", "variance after"]
    table[numbers] = table[numbers].astype(np.float64).round(6) + 0.0  # + 0.0 turns -0.0 into 0.0
    return table


GPT2_SIZES = ("gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl")


def gpt2_sizes_frame() -> pd.DataFrame:
    """The four GPT-2 presets as released (tied head, qkv biases), counted on the meta device in milliseconds."""
    records = []
    for name in GPT2_SIZES:
        cfg = PRESETS[name]
        report = size_report(cfg)
        records.append(
            {
                "model": name,
                "emb_dim": cfg.emb_dim,
                "n_layers": cfg.n_layers,
                "n_heads": cfg.n_heads,
                "parameters": report.parameters_tied,
                "MB (float32)": round(size_mb(report.parameters_tied), 1),
            }
        )
    return pd.DataFrame(records)


def four_totals_frame(cfg: GPTConfig) -> pd.DataFrame:
    """One shape counted four ways: qkv biases off (the book) or on (OpenAI), head separate or tied."""
    rows = {}
    for qkv_bias, row in ((False, "qkv_bias=False (the book)"), (True, "qkv_bias=True (OpenAI's weights)")):
        report = size_report(replace(cfg, qkv_bias=qkv_bias))
        rows[row] = {"own output head": report.parameters, "head tied to tok_emb": report.parameters_tied}
    return pd.DataFrame.from_dict(rows, orient="index")


def next_token_frame(trace: Trace, k: int = 10) -> pd.DataFrame:
    """The k most likely next tokens after the prompt's last token: rank, token, token id, probability."""
    ids, probs = top_k(trace.probabilities(-1), k)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(ids) + 1),
            "token": token_labels(ids.tolist()),
            "token id": ids,
            "probability": probs,
        }
    )


def loss_frame(run: TrainingRun) -> pd.DataFrame:
    """Long table of the losses: step, tokens seen, loss, kind ('train (this batch)', 'train', 'validation')."""
    steps = run.steps()
    evaluations = run.evaluations()
    batches = pd.DataFrame(
        {
            "step": [s.step for s in steps],
            "tokens seen": [s.tokens_seen for s in steps],
            "loss": [s.train_loss for s in steps],
            "kind": "train (this batch)",
        }
    )
    estimates = [
        pd.DataFrame(
            {
                "step": [e.step for e in evaluations],
                "tokens seen": [e.tokens_seen for e in evaluations],
                "loss": [getattr(e, column) for e in evaluations],
                "kind": kind,
            }
        )
        for column, kind in (("train_loss", "train"), ("val_loss", "validation"))
    ]
    return pd.concat([batches, *estimates], ignore_index=True)


def grad_norm_frame(run: TrainingRun, max_points: int = 400) -> pd.DataFrame:
    """Wide table: one row per step (at most ``max_points``, evenly thinned), one column per block."""
    steps = run.steps()
    if len(steps) > max_points:
        keep = sorted({round(i * (len(steps) - 1) / (max_points - 1)) for i in range(max_points)})
        steps = [steps[i] for i in keep]
    n_blocks = len(steps[0].grad_norms) if steps else 0
    frame = pd.DataFrame([s.grad_norms for s in steps], columns=[f"block {i}" for i in range(n_blocks)])
    frame.insert(0, "step", [s.step for s in steps])
    return frame


def lens_wide_table(frame: pd.DataFrame, streams: list[str]) -> pd.DataFrame:
    """``lens_position_frame`` as one row per place in the stream, columns top 1 ... top k: "token  (12.3%)"."""
    wide = frame.assign(
        cell=[f"{t}  ({percent(p)})" for t, p in zip(frame["token"], frame["probability"], strict=True)]
    )
    wide = wide.pivot(index="stream", columns="rank", values="cell").loc[streams]  # keep the model's order
    wide.columns = [f"top {rank}" for rank in wide.columns]
    return wide
