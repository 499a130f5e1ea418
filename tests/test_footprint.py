"""The memory budget's estimates against the peaks GPT-2 124M really reaches (bench/bench_memory.py)."""

import pytest

from bench.bench_memory import KINDS, measure
from gptcore import GPT_CONFIG_124M, PRESETS, GPTConfig, footprint

TOLERANCE = 0.25  # the bound: each estimate within 25% of the measured peak
# The allocator moves the peak of small work (a lens place, 20 tokens: 50 to 200 MB) by tens of MB
# from run to run; below this many bytes of difference an estimate counts as right.
ALLOCATOR_NOISE = 64 * 10**6
LENGTHS = [256, 512, 1000]


@pytest.fixture(scope="module")
def measured() -> list[dict]:
    return measure(LENGTHS)  # one fresh process, about two minutes on two cores


def test_every_kind_of_work_is_measured_at_three_lengths(measured):
    assert sorted({(row["kind"], row["tokens"]) for row in measured}) == sorted(
        (kind, n) for kind in KINDS for n in LENGTHS
    )


@pytest.mark.parametrize("kind", KINDS)
def test_estimates_are_within_a_quarter_of_the_measured_peak(measured, kind):
    for row in (row for row in measured if row["kind"] == kind):
        assert abs(row["estimate"] - row["peak"]) <= max(TOLERANCE * row["peak"], ALLOCATOR_NOISE), (
            f"{kind} at {row['tokens']} tokens: estimated {row['estimate'] / 1e6:.0f} MB, "
            f"measured {row['peak'] / 1e6:.0f} MB"
        )


def test_estimates_grow_with_the_prompt_and_stop_at_the_context():
    cfg = GPTConfig.coerce(GPT_CONFIG_124M)
    growing = (footprint.trace_bytes, footprint.gradient_bytes, footprint.generation_bytes, footprint.edited_pass_bytes)
    for estimate in growing:
        assert estimate(cfg, 10) < estimate(cfg, 100) < estimate(cfg, 1000)
        assert estimate(cfg, cfg.context_length) == estimate(cfg, 5 * cfg.context_length)  # prompts are cropped


def test_bigger_models_need_more():
    small, medium = GPTConfig.coerce(PRESETS["gpt2-small"]), GPTConfig.coerce(PRESETS["gpt2-medium"])
    assert footprint.trace_bytes(small, 64) < footprint.trace_bytes(medium, 64)
    assert footprint.model_bytes(small) < footprint.model_bytes(medium) < footprint.model_load_bytes(medium)
    assert footprint.training_bytes(small, 2, 64) < footprint.training_bytes(small, 8, 64)
