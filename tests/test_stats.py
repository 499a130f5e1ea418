"""gptcore.stats.parameter_rows: every weight matrix, summed over blocks, adding up to the model."""

from dataclasses import replace

import pytest
import torch

from gptcore import GPT_CONFIG_124M, PRESETS, GPTModel, count_parameters, parameter_breakdown
from gptcore.stats import parameter_rows


def meta_model(cfg) -> GPTModel:
    with torch.device("meta"):
        return GPTModel(cfg)


@pytest.mark.parametrize("name", ["tiny", "gpt2-small", "gpt2-xl"])
@pytest.mark.parametrize("qkv_bias", [False, True])
def test_rows_add_up_to_the_model(name, qkv_bias):
    model = meta_model(replace(PRESETS[name], qkv_bias=qkv_bias))
    rows = parameter_rows(model)
    assert sum(r.parameters for r in rows) == count_parameters(model)
    assert all(r.parameters == r.per_copy * r.copies for r in rows)
    assert len({r.module for r in rows}) == len(rows)


def test_rows_split_the_books_blocks_as_the_book_counts_them(book_model):
    rows = {r.module: r for r in parameter_rows(book_model)}
    d = 768
    for name in ("W_query", "W_key", "W_value"):
        row = rows[f"trf_blocks.*.att.{name}"]
        assert (row.per_copy, row.copies) == (d * d, 12)  # qkv_bias=False: no bias
        assert row.shapes == "weight (768, 768)"
    assert rows["trf_blocks.*.att.out_proj"].per_copy == d * d + d
    assert rows["trf_blocks.*.ff.layers.0"].shapes == "weight (3072, 768), bias (3072,)"
    # The book's exercise 4.1 figures: one block's attention and feed-forward modules.
    per_block = {}
    for row in rows.values():
        per_block[row.part] = per_block.get(row.part, 0) + row.per_copy
    assert per_block["attention"] == 2_360_064
    assert per_block["feed-forward"] == 4_722_432
    assert rows["out_head"].copies == rows["tok_emb"].copies == 1


def test_rows_agree_with_the_summary_breakdown(book_model):
    rows = parameter_rows(book_model)
    summary = dict(parameter_breakdown(book_model))
    by_part = {}
    for row in rows:
        by_part[row.part] = by_part.get(row.part, 0) + row.parameters
    assert by_part["attention"] == summary["attention (all blocks)"]
    assert by_part["feed-forward"] == summary["feed-forward (all blocks)"]
    assert by_part["layer norms"] == summary["layer norms (all blocks)"]
    assert rows[0].group == "embeddings" and rows[-1].module == "out_head"


def test_qkv_bias_shows_in_the_shapes():
    rows = {r.module: r for r in parameter_rows(meta_model(PRESETS["gpt2-small"]))}
    assert rows["trf_blocks.*.att.W_key"].shapes == "weight (768, 768), bias (768,)"
    assert rows["trf_blocks.*.att.W_key"].per_copy == 768 * 768 + 768


def test_the_books_dict_works_too():
    rows = parameter_rows(meta_model(GPT_CONFIG_124M))
    assert sum(r.parameters for r in rows) == 163_009_536
