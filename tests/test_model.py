"""The book's chapter 4 figures, reproduced exactly by the seeded 124M model."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gptcore import (
    GPT_CONFIG_124M,
    PRESETS,
    GPTModel,
    build_model,
    count_parameters,
    count_parameters_tied,
    generate_text_simple,
    parameter_breakdown,
    size_mb,
    size_report,
    text_to_token_ids,
    token_ids_to_text,
)
from gptcore.building import empty_model
from gptcore.seeding import seeded

ROOT = Path(__file__).resolve().parent.parent


def test_book_model_parameter_counts_and_memory(book_model):
    assert count_parameters(book_model) == 163_009_536
    assert count_parameters_tied(book_model) == 124_412_160
    assert round(size_mb(count_parameters(book_model)), 2) == 621.83
    assert tuple(book_model.tok_emb.weight.shape) == (50257, 768)
    assert tuple(book_model.out_head.weight.shape) == (50257, 768)


@pytest.mark.parametrize(
    ("name", "total", "tied", "megabytes"),
    [
        ("gpt2-small", 163_009_536, 124_412_160, 621.83),
        ("gpt2-medium", 406_212_608, 354_749_440, 1549.58),
        ("gpt2-large", 838_220_800, 773_891_840, 3197.56),
        ("gpt2-xl", 1_637_792_000, 1_557_380_800, 6247.68),
    ],
)
def test_book_sizes_for_all_four_gpt2_models(name, total, tied, megabytes):
    report = size_report(replace(PRESETS[name], qkv_bias=False))  # the book counts without qkv bias
    assert (report.parameters, report.parameters_tied) == (total, tied)
    assert round(report.size_mb, 2) == megabytes


def test_parameter_breakdown_adds_up(book_model):
    rows = dict(parameter_breakdown(book_model))
    assert sum(rows.values()) == count_parameters(book_model)
    assert rows["output head (out_head)"] == 50257 * 768


def test_seeded_book_model_prints_the_books_logits(tokenizer):
    # Book listing 4.7's printout: the 124M model in training mode (dropout on) right after
    # torch.manual_seed(123), on the batch "Every effort moves you" / "Every day holds a".
    batch = torch.cat(
        [text_to_token_ids("Every effort moves you", tokenizer), text_to_token_ids("Every day holds a", tokenizer)]
    )
    with seeded(123):
        model = GPTModel(GPT_CONFIG_124M)
        logits = model(batch)
    assert logits.shape == (2, 4, 50257)
    first_three = torch.tensor(
        [
            [
                [0.3613, 0.4222, -0.0711],
                [-0.1792, -0.5660, -0.9485],
                [0.7120, 0.0332, 0.1085],
                [-1.0076, 0.3418, -0.1190],
            ],
            [
                [-0.2564, 0.0900, 0.0335],
                [0.1230, 0.3653, -0.2074],
                [1.0558, 1.0318, -0.2800],
                [-0.1565, 0.3926, 0.3288],
            ],
        ]
    )
    last_three = torch.tensor(
        [
            [
                [0.3483, 0.4661, -0.2838],
                [0.0477, 0.5181, -0.3168],
                [0.1018, -0.4327, -0.2553],
                [0.7195, 0.4023, 0.0532],
            ],
            [[0.2659, 0.4454, -0.6806], [0.7705, 0.2710, 0.2246], [0.6936, 0.3205, -0.3178], [1.2630, -0.1858, 0.0388]],
        ]
    )
    torch.testing.assert_close(logits[:, :, :3].detach(), first_three, atol=5e-5, rtol=0)
    torch.testing.assert_close(logits[:, :, -3:].detach(), last_three, atol=5e-5, rtol=0)


def test_generate_text_simple_gives_the_books_featureiman_output(book_model, tokenizer):
    encoded = torch.tensor(tokenizer.encode("Hello, I am")).unsqueeze(0)
    out = generate_text_simple(book_model, encoded, max_new_tokens=6, context_size=GPT_CONFIG_124M["context_length"])
    assert out.tolist() == [[15496, 11, 314, 716, 27018, 24086, 47843, 30961, 42348, 7267]]
    assert token_ids_to_text(out, tokenizer) == "Hello, I am Featureiman Byeswickattribute argue"


def test_creation_order_is_the_books():
    names = [name for name, _ in GPTModel(PRESETS["tiny"]).named_parameters()]
    assert names[:2] == ["tok_emb.weight", "pos_emb.weight"]
    block = [n.removeprefix("trf_blocks.0.") for n in names if n.startswith("trf_blocks.0.")]
    assert block[:6] == [
        "att.W_query.weight",
        "att.W_query.bias",
        "att.W_key.weight",
        "att.W_key.bias",
        "att.W_value.weight",
        "att.W_value.bias",
    ]
    assert block[6:] == [
        "att.out_proj.weight", "att.out_proj.bias", "ff.layers.0.weight", "ff.layers.0.bias", "ff.layers.2.weight",
        "ff.layers.2.bias", "norm1.scale", "norm1.shift", "norm2.scale", "norm2.shift",
    ]  # fmt: skip
    assert names[-1] == "out_head.weight"


def test_seeded_build_leaves_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with seeded(123):
        GPTModel(PRESETS["tiny"])
    torch.testing.assert_close(torch.rand(3), expected)


def test_model_rejects_bad_token_ids(tiny_model):
    with pytest.raises(ValueError, match="empty"):
        tiny_model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="token id 50257 is outside the vocabulary"):
        tiny_model(torch.tensor([[1, 50257]]))
    with pytest.raises(ValueError, match="token id -1"):
        tiny_model(torch.tensor([[-1, 3]]))
    with pytest.raises(ValueError, match="exceed context_length 64"):
        tiny_model(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match="integers"):
        tiny_model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\(batch, num_tokens\)"):
        tiny_model(torch.zeros(3, dtype=torch.long))


def test_shortcuts_off_changes_the_output_but_not_the_model(tiny_model):
    ids = torch.tensor([[5, 6, 7]])
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    with torch.no_grad():
        on, off = tiny_model(ids), tiny_model(ids, use_shortcut=False)
    assert not torch.allclose(on, off)
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())


def test_build_model_draws_exactly_the_weights_of_the_plain_constructor():
    cfg = replace(PRESETS["tiny"], qkv_bias=False)  # both bias settings: the random stream differs
    for config in (PRESETS["tiny"], cfg):
        with seeded(99):
            reference = GPTModel(config)
        built = build_model(config, seed=99)
        for (name, expected), (_, got) in zip(reference.state_dict().items(), built.state_dict().items(), strict=True):
            assert torch.equal(expected, got), name
        assert built.out_head.weight.stride() == reference.out_head.weight.stride()  # same (in, out) layout


def test_building_a_model_stays_clear_of_torchs_compiler_stack():
    # Laying weights out on the meta device used to import torch._dynamo and sympy (about a second
    # of a fresh server's first build); a fresh interpreter shows whether that has come back.
    code = (
        "import sys; from gptcore import PRESETS, build_model; build_model(PRESETS['tiny'], seed=1); "
        "print(sorted(m for m in ('sympy', 'torch._dynamo') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_empty_model_keeps_the_input_major_layout_and_trains():
    model = empty_model(PRESETS["tiny"])
    assert all(p.device.type == "cpu" and p.requires_grad for p in model.parameters())
    assert model.out_head.weight.stride() == (1, PRESETS["tiny"].vocab_size)  # (in, out) in memory
    assert not model.training
