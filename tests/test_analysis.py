"""gptcore.heads, normalization and neurons: hand-made arrays with known answers, and the tiny model."""

import math

import numpy as np
import pytest
import torch

from gptcore import PRESETS, build_model, count_parameters, trace
from gptcore.heads import (
    attention_chunks,
    attention_entropy,
    head_statistics,
    head_summary,
    masked_pattern,
    pooled_layers,
    pooled_pattern,
    statistic_grid,
    tile_patterns,
)
from gptcore.neurons import activation_curves, activation_summary, feedforward_sizes, top_neuron_matrix, top_neurons
from gptcore.normalization import layernorm_demo, layernorm_histograms, layernorm_stats, norm_parameters
from gptcore.stats import histogram


def uniform_causal(num_tokens: int) -> np.ndarray:
    """Each query spreads its attention evenly over itself and every earlier token."""
    weights = np.tril(np.ones((num_tokens, num_tokens)))
    return weights / weights.sum(axis=1, keepdims=True)


def previous_token_pattern(num_tokens: int) -> np.ndarray:
    """All weight on the token just before (token 0 can only look at itself)."""
    weights = np.zeros((num_tokens, num_tokens))
    weights[0, 0] = 1
    weights[np.arange(1, num_tokens), np.arange(num_tokens - 1)] = 1
    return weights


@pytest.fixture(scope="module")
def tiny_trace(tiny_model):
    return trace(
        tiny_model, [6109, 3626, 6100, 345, 3812, 262, 1657, 286]
    )  # "Every effort moves you toward the light of"


# --- attention ---------------------------------------------------------------------------------


def test_uniform_attention_has_entropy_log_n_per_row():
    entropy = attention_entropy(uniform_causal(5))
    np.testing.assert_allclose(entropy, np.log(np.arange(1, 6)))


def test_attention_on_a_single_key_has_zero_entropy_and_masked_zeros_add_nothing():
    assert np.all(attention_entropy(previous_token_pattern(6)) == 0)


def test_previous_token_head_is_recognised():
    stats = head_statistics(previous_token_pattern(5)[None])  # one head
    assert stats["prev_token"][0] == pytest.approx(1.0)
    assert stats["self_token"][0] == pytest.approx(0.0)
    assert stats["first_token"][0] == pytest.approx(1 / 4)  # only query 1 has token 0 as its previous token


def test_first_token_head_is_recognised_and_heads_are_kept_apart():
    first = np.zeros((5, 5))
    first[:, 0] = 1
    stats = head_statistics(np.stack([first, uniform_causal(5)]))
    assert stats["first_token"][0] == pytest.approx(1.0)
    assert stats["prev_token"][0] == pytest.approx(1 / 4)
    # the uniform head: query q gives 1 / (q + 1) to each key; averaged over queries 1..4
    assert stats["first_token"][1] == pytest.approx(np.mean([1 / 2, 1 / 3, 1 / 4, 1 / 5]))


def test_one_token_prompt_gives_nan_rather_than_an_error():
    stats = head_statistics(np.ones((3, 1, 1)))
    assert np.isnan(stats["prev_token"]).all() and np.isnan(stats["first_token"]).all()
    assert np.all(stats["entropy"] == 0)


def test_masked_pattern_blanks_exactly_the_future():
    scores = np.array([[0.5, -np.inf, -np.inf], [1.0, 2.0, -np.inf], [3.0, 4.0, 5.0]])
    masked = masked_pattern(scores)
    assert np.isnan(masked[np.triu_indices(3, k=1)]).all()
    np.testing.assert_array_equal(masked[np.tril_indices(3)], scores[np.tril_indices(3)])
    assert np.isfinite(scores[0, 0])  # the input is not changed in place


def test_pooled_pattern_averages_blocks_and_keeps_fully_masked_blocks_blank():
    pattern = np.tril(np.ones((8, 8)))
    np.testing.assert_array_equal(np.isnan(pooled_pattern(pattern, 8)), np.triu(np.ones((8, 8)), k=1) > 0)
    pooled = pooled_pattern(pattern * 2.0, 4)  # (4, 4) blocks of 2x2 tokens
    assert pooled.shape == (4, 4)
    assert np.isnan(pooled[0, 1]) and np.isnan(pooled[0, 3])  # blocks entirely above the diagonal
    np.testing.assert_allclose(pooled[np.tril_indices(4)], 2.0)  # masked cells do not drag the mean down


def test_one_head_at_a_time_gives_the_layers_own_maps(tiny_trace):
    for layer in (0, -1):
        for head in range(tiny_trace.n_heads):
            np.testing.assert_allclose(
                tiny_trace.attention_head(layer, head), tiny_trace.attention(layer)[head], atol=1e-6
            )
            np.testing.assert_allclose(tiny_trace.head_scores(layer, head), tiny_trace.scores(layer)[head], atol=1e-5)
    every_layer = np.concatenate([tiny_trace.attention(layer) for layer in range(tiny_trace.n_layers)])  # (L * H, T, T)
    np.testing.assert_allclose(
        pooled_layers(tiny_trace, range(tiny_trace.n_layers), 4), pooled_pattern(every_layer, 4), atol=1e-6
    )
    for max_bytes in (1, 10**9):  # one map at a time, or every layer at once: the same maps, in order
        chunks = list(attention_chunks(tiny_trace, [1, 0], max_bytes))
        assert len(chunks) == (2 * tiny_trace.n_heads if max_bytes == 1 else 1)
        layers, heads, maps = (np.concatenate(parts) for parts in zip(*chunks, strict=True))
        np.testing.assert_array_equal(layers, np.repeat([1, 0], tiny_trace.n_heads))
        np.testing.assert_array_equal(heads, np.tile(np.arange(tiny_trace.n_heads), 2))
        np.testing.assert_allclose(maps, np.concatenate([tiny_trace.attention(1), tiny_trace.attention(0)]), atol=1e-6)
    with pytest.raises(ValueError, match="head 99 does not exist"):
        tiny_trace.head_scores(0, 99)


def test_tile_patterns_places_each_tile_with_nan_gaps():
    patterns = np.arange(5)[:, None, None] * np.ones((5, 2, 2))
    image = tile_patterns(patterns, n_cols=3)
    assert image.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert image[0, 0] == 0 and image[0, 3] == 1 and image[3, 0] == 3 and image[3, 3] == 4
    assert np.isnan(image[2]).all() and np.isnan(image[:, 2]).all()  # gaps between tiles
    assert np.isnan(image[3:, 6:]).all()  # the sixth slot is empty


def test_head_summary_of_a_real_trace(tiny_trace):
    summary = head_summary(tiny_trace)
    assert len(summary) == tiny_trace.n_layers * tiny_trace.n_heads
    assert list(summary.columns) == [
        "layer",
        "head",
        "entropy",
        "uniform_entropy",
        "prev_token",
        "first_token",
        "self_token",
    ]
    assert (summary["entropy"] <= summary["uniform_entropy"] + 1e-9).all()  # nothing beats evenly spread
    row = summary[(summary["layer"] == 1) & (summary["head"] == 2)].iloc[0]
    weights = tiny_trace.attention(1)[2]
    assert row["prev_token"] == pytest.approx(np.mean([weights[q, q - 1] for q in range(1, 8)]))
    assert row["entropy"] == pytest.approx(np.mean([-(p[p > 0] * np.log(p[p > 0])).sum() for p in weights]))
    one_layer = head_summary(tiny_trace, layer=-1)
    assert (one_layer["layer"] == tiny_trace.n_layers - 1).all() and len(one_layer) == tiny_trace.n_heads


def test_statistic_grid_is_layers_by_heads(tiny_trace):
    summary = head_summary(tiny_trace)
    grid = statistic_grid(summary, "first_token")
    assert grid.shape == (tiny_trace.n_layers, tiny_trace.n_heads)
    assert grid[1, 3] == summary.query("layer == 1 and head == 3")["first_token"].item()
    with pytest.raises(ValueError, match="unknown statistic"):
        statistic_grid(summary, "colour")


# --- LayerNorm ---------------------------------------------------------------------------------


def test_layernorm_stats_before_and_after(tiny_trace):
    stats = layernorm_stats(tiny_trace, 1)
    assert len(stats) == 2 * tiny_trace.num_tokens
    norm2 = stats[stats["norm"] == "norm2"]
    resid_mid = tiny_trace.layer("resid_mid", 1)
    np.testing.assert_allclose(norm2["mean_before"], resid_mid.mean(axis=-1), atol=1e-6)
    np.testing.assert_allclose(norm2["var_before"], resid_mid.var(axis=-1), rtol=1e-5)
    # untrained: scale 1, shift 0, so the output has mean 0 and variance var / (var + eps)
    np.testing.assert_allclose(stats["mean_after"], 0, atol=1e-6)
    np.testing.assert_allclose(stats["var_after"], stats["var_before"] / (stats["var_before"] + 1e-5), rtol=1e-4)
    assert stats["token"].iloc[1] == "␣effort"


def test_layernorm_histograms_share_bins_and_count_every_value(tiny_trace):
    frame = layernorm_histograms(tiny_trace, 0, "norm1", bins=30)
    before, after = frame[frame["stage"] == "before"], frame[frame["stage"] == "after"]
    num_values = tiny_trace.num_tokens * tiny_trace.embeddings.shape[1]
    assert before["count"].sum() == num_values and after["count"].sum() == num_values
    np.testing.assert_array_equal(before["bin_left"].to_numpy(), after["bin_left"].to_numpy())
    with pytest.raises(ValueError, match="unknown norm"):
        layernorm_histograms(tiny_trace, 0, "norm3")


def test_histogram_of_a_constant_does_not_fail():
    frame = histogram(np.full(10, 3.0), bins=4)
    assert frame["count"].sum() == 10


def test_norm_parameters_read_the_models_scale_and_shift():
    model = build_model(PRESETS["tiny"], seed=1)  # a private model: this test may change it
    with torch.no_grad():
        model.trf_blocks[1].norm2.scale.fill_(2.5)
        model.trf_blocks[1].norm2.shift[3] = -1.0
    frame = norm_parameters(model, 1)
    assert len(frame) == model.cfg.emb_dim
    assert (frame["norm2_scale"] == 2.5).all() and frame["norm2_shift"][3] == -1.0
    assert (frame["norm1_scale"] == 1).all() and (frame["norm1_shift"] == 0).all()
    frame.loc[0, "norm1_scale"] = 9.0  # the frame is a copy: writing to it leaves the model alone
    assert model.trf_blocks[1].norm1.scale[0].item() == 1.0


def test_layernorm_demo_reproduces_the_book_without_touching_the_global_seed():
    torch.manual_seed(0)
    expected_next = torch.rand(1)
    torch.manual_seed(0)
    demo = layernorm_demo()
    assert torch.rand(1).item() == expected_next.item()
    np.testing.assert_allclose(demo["outputs_mean"], [[0.1324], [0.2170]], atol=5e-5)
    np.testing.assert_allclose(demo["outputs_var_unbiased"], [[0.0231], [0.0398]], atol=5e-5)
    np.testing.assert_allclose(demo["outputs_var_biased"], demo["outputs_var_unbiased"] * 5 / 6, rtol=1e-5)
    assert demo["outputs"].shape == (2, 6) and demo["inputs"].shape == (2, 5)
    np.testing.assert_allclose(demo["normalized_mean"], 0, atol=1e-6)
    np.testing.assert_allclose(demo["normalized_var_biased"], 1, atol=1e-3)
    np.testing.assert_allclose(demo["normalized_var_unbiased"], 6 / 5, atol=1e-3)  # n / (n - 1) with n = 6


# --- Feed-forward and GELU ---------------------------------------------------------------------


def test_activation_curves_gelu_and_relu():
    curves = activation_curves(-4, 4, num_points=81)
    assert curves["x"].iloc[0] == -4 and curves["x"].iloc[-1] == 4
    np.testing.assert_allclose(curves["ReLU"], np.maximum(curves["x"], 0))
    at_zero = curves.loc[curves["x"].abs().idxmin(), "GELU"]
    assert at_zero == pytest.approx(0, abs=1e-6)
    assert curves["GELU"].min() == pytest.approx(-0.17, abs=0.005)  # the dip below zero
    assert curves["GELU"].iloc[-1] == pytest.approx(4, abs=1e-3)


def test_feedforward_sizes_match_the_real_module(tiny_model):
    sizes = feedforward_sizes(tiny_model)
    d = tiny_model.cfg.emb_dim
    assert sizes["parameters"].iloc[-1] == 8 * d * d + 5 * d == count_parameters(tiny_model.trf_blocks[0].ff)
    assert sizes["shape"].iloc[0] == f"{4 * d} x {d}"  # PyTorch's (out, in)


def test_activation_summary_is_an_ordered_box(tiny_trace):
    summary = activation_summary(tiny_trace)
    assert len(summary) == tiny_trace.n_layers
    columns = ["min", "lower_fence", "q1", "median", "q3", "upper_fence", "max"]
    assert (summary[columns].diff(axis=1).iloc[:, 1:] >= 0).all().all()
    values = tiny_trace.layer("gelu", 1)
    assert summary["share_negative"][1] == pytest.approx((values < 0).mean())
    assert summary["min"].min() >= -0.2  # GELU never goes below about -0.17


def test_top_neurons_are_the_largest_activations_in_order(tiny_trace):
    table = top_neurons(tiny_trace, 0, k=5)
    activations = tiny_trace.layer("gelu", 0)
    assert len(table) == tiny_trace.num_tokens
    for position in (0, 5):
        row = table.iloc[position]
        assert row["neuron_1"] == activations[position].argmax()
        assert row["activation_1"] == pytest.approx(activations[position].max())
        values = [row[f"activation_{rank}"] for rank in range(1, 6)]
        assert values == sorted(values, reverse=True)
        assert values[-1] == pytest.approx(np.sort(activations[position])[-5])


def test_top_neuron_matrix_orders_neurons_by_peak(tiny_trace):
    neurons, matrix = top_neuron_matrix(tiny_trace, 1, n=7)
    activations = tiny_trace.layer("gelu", 1)
    assert matrix.shape == (7, tiny_trace.num_tokens)
    assert neurons[0] == activations.max(axis=0).argmax()
    np.testing.assert_array_equal(matrix, activations[:, neurons].T)
    peaks = matrix.max(axis=1)
    assert list(peaks) == sorted(peaks, reverse=True)
    assert math.isclose(peaks[-1], np.sort(activations.max(axis=0))[-7])
