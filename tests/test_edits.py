"""Experiments on the model (gptcore/edits.py): exact where they should be, and private to their context."""

import threading

import numpy as np
import pytest
import torch

from gptcore import PRESETS, build_model
from gptcore.edits import (
    HeadAblation,
    NeuronAblation,
    ResidualPatch,
    ShortcutRemoval,
    SublayerAblation,
    applying,
    next_token_logits,
    run_with_edits,
)
from gptcore.hooks import Recorder, recording

IDS = [464, 3290, 318, 257, 1332, 286, 262, 1110]


@pytest.fixture(scope="module")
def model():
    return build_model(PRESETS["tiny"], seed=11)


def plain_logits(model, ids) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids]))[0].numpy()


def test_no_edits_give_identical_logits(model):
    np.testing.assert_array_equal(run_with_edits(model, IDS, []), plain_logits(model, IDS))


def test_the_next_tokens_logits_are_the_last_row_of_the_full_run(model):
    edits = [HeadAblation(0, 1), NeuronAblation(1, 7)]
    np.testing.assert_allclose(
        next_token_logits(model, IDS, edits), run_with_edits(model, IDS, edits)[-1], rtol=0, atol=1e-5
    )
    with pytest.raises(ValueError, match="past the prompt"):
        next_token_logits(model, IDS, [ResidualPatch(0, len(IDS), IDS)])


def test_ablating_every_head_of_a_layer_leaves_only_out_projs_bias(model):
    layer = 1
    edits = [HeadAblation(layer, head) for head in range(model.cfg.n_heads)]
    recorder = Recorder(keep=lambda name: name == f"trf_blocks.{layer}.hook_attn_out")
    with torch.no_grad(), applying(model, edits), recording(recorder):
        model(torch.tensor([IDS]))
    attention_out = recorder.tensors[f"trf_blocks.{layer}.hook_attn_out"][0]  # (T, d)
    bias = model.trf_blocks[layer].att.out_proj.bias.detach()
    torch.testing.assert_close(attention_out, bias.expand_as(attention_out), rtol=0, atol=0)


def test_a_head_ablation_changes_the_logits_and_mean_mode_differs_from_zero(model):
    zero = run_with_edits(model, IDS, [HeadAblation(0, 2)])
    mean = run_with_edits(model, IDS, [HeadAblation(0, 2, mode="mean")])
    base = plain_logits(model, IDS)
    assert not np.allclose(zero, base) and not np.allclose(mean, base) and not np.allclose(zero, mean)


def test_a_patch_at_position_p_changes_nothing_before_p(model):
    source = [*IDS[:4], 9999, 123, 77, 5]  # shares the prompt's first four tokens
    patched = run_with_edits(model, IDS, [ResidualPatch(1, 4, source)])
    base = plain_logits(model, IDS)
    np.testing.assert_array_equal(patched[:4], base[:4])
    assert not np.allclose(patched[4:], base[4:])


def test_patching_layer_0_at_every_position_reproduces_the_source(model):
    source = [50, 60, 70, 80, 90, 100, 110, 120]
    edits = [ResidualPatch(0, position, source) for position in range(len(source))]
    np.testing.assert_allclose(run_with_edits(model, IDS, edits), plain_logits(model, source), rtol=0, atol=1e-5)


def test_neuron_sublayer_and_shortcut_edits_act_where_they_say():
    model = build_model(PRESETS["tiny"], seed=11)
    gelu = Recorder(keep=lambda name: name == "trf_blocks.0.ff.hook_gelu")
    with torch.no_grad(), applying(model, [NeuronAblation(0, 17)]), recording(gelu):
        model(torch.tensor([IDS]))
    assert (gelu.tensors["trf_blocks.0.ff.hook_gelu"][0, :, 17] == 0).all()

    no_ff = run_with_edits(model, IDS, [SublayerAblation(1, "feedforward")])
    assert not np.allclose(no_ff, plain_logits(model, IDS))

    # One block without shortcuts, as section 4.4's use_shortcut=False does for every block.
    last = model.cfg.n_layers - 1
    edits = [ShortcutRemoval(layer) for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        expected = model(torch.tensor([IDS]), use_shortcut=False)[0].numpy()
    np.testing.assert_array_equal(run_with_edits(model, IDS, edits), expected)
    assert not np.allclose(run_with_edits(model, IDS, [ShortcutRemoval(last)]), plain_logits(model, IDS))


def test_edits_in_one_thread_never_show_in_anothers_concurrent_pass(model):
    base = plain_logits(model, IDS)
    start = threading.Barrier(2)
    results: dict[str, np.ndarray] = {}

    def edited() -> None:
        start.wait()
        for _ in range(20):
            results["edited"] = run_with_edits(model, IDS, [SublayerAblation(layer, "attention") for layer in (0, 1)])

    def plain() -> None:
        start.wait()
        for _ in range(20):
            out = plain_logits(model, IDS)
            assert np.array_equal(out, base)  # every pass of this thread is the model's own
        results["plain"] = out

    threads = [threading.Thread(target=edited), threading.Thread(target=plain)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_array_equal(results["plain"], base)
    assert not np.allclose(results["edited"], base)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (HeadAblation(2, 0), r"layer 2 is outside the model, which has layers 0 to 1"),
        (HeadAblation(0, 4), r"head 4 is outside the model, which has heads 0 to 3"),
        (NeuronAblation(0, 128), r"neuron 128 is outside the model, which has neurons 0 to 127"),
        (SublayerAblation(0, "norm"), r"'attention' or 'feedforward', not 'norm'"),
        (HeadAblation(0, 0, mode="half"), r"mode must be 'zero' or 'mean'"),
        (ResidualPatch(0, 0, []), r"the source is empty"),
        (ResidualPatch(0, 3, [1, 2]), r"position 3 is outside the model, which has positions 0 to 1"),
        (ResidualPatch(0, 9, list(range(12))), r"position 9 is past the prompt's 8 tokens"),
    ],
)
def test_an_edit_outside_the_model_is_refused_with_what_is_wrong(model, edit, message):
    with pytest.raises(ValueError, match=message):
        run_with_edits(model, IDS, [edit])
    np.testing.assert_array_equal(run_with_edits(model, IDS, []), plain_logits(model, IDS))  # nothing left behind


def test_traces_and_generation_run_edited_inside_applying(model):
    from gptcore import generate, trace

    with applying(model, [NeuronAblation(0, 17)]):
        edited = trace(model, IDS)
    assert (edited.layer("gelu", 0)[:, 17] == 0).all()
    assert not (trace(model, IDS).layer("gelu", 0)[:, 17] == 0).all()  # outside the block, the model's own

    prompt = torch.tensor([IDS])
    with applying(model, [SublayerAblation(layer, "attention") for layer in (0, 1)]):
        written = generate(model, prompt, 6, context_size=64)
    assert not torch.equal(written, generate(model, prompt, 6, context_size=64))


def test_the_issues_examples_on_gpt2_124m_are_refused(book_model):
    from gptcore.edits import check_edits

    with pytest.raises(ValueError, match="layer 12 is outside the model, which has layers 0 to 11"):
        check_edits(book_model.cfg, [HeadAblation(12, 0)])
    with pytest.raises(ValueError, match="neuron 3072 is outside the model, which has neurons 0 to 3071"):
        check_edits(book_model.cfg, [NeuronAblation(0, 3072)])


def test_the_head_importance_scan_matches_ablating_each_head_alone(model):
    from gptcore.edits import head_importance

    scan = head_importance(model, IDS, max_batch_tokens=3 * len(IDS))  # batches of three rows
    base = plain_logits(model, IDS)[-1]
    assert scan.token_id == int(base.argmax())
    assert scan.logit == pytest.approx(float(base[scan.token_id]), abs=1e-5)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            alone = run_with_edits(model, IDS, [HeadAblation(layer, head)])[-1]
            probability = float(torch.softmax(torch.tensor(alone), dim=-1)[scan.token_id])
            assert scan.logit_change[layer, head] == pytest.approx(alone[scan.token_id] - scan.logit, abs=1e-4)
            assert scan.probability_change[layer, head] == pytest.approx(probability - scan.probability, abs=1e-6)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        head_importance(model, IDS, target_token=50257)


def test_the_patching_scan_matches_single_patches_and_restores_everything_at_layer_0(model):
    from gptcore.edits import patching_scan

    clean = IDS
    corrupted = [*IDS[:3], 4242, *IDS[4:]]  # one token changed
    scan = patching_scan(model, clean, corrupted, max_batch_tokens=5 * len(clean))
    assert scan.restored.shape == (model.cfg.n_layers, len(clean))
    np.testing.assert_allclose(scan.restored[0, 3], 1.0, atol=1e-4)  # layer 0 at the changed token: all of it back
    np.testing.assert_allclose(scan.restored[:, :3], 0.0, atol=1e-5)  # before the change, the streams are equal
    for layer, position in ((1, 3), (1, 7), (0, 6)):
        alone = run_with_edits(model, corrupted, [ResidualPatch(layer, position, clean)])[-1, scan.answer_token]
        expected = (alone - scan.corrupted_logit) / (scan.clean_logit - scan.corrupted_logit)
        assert scan.restored[layer, position] == pytest.approx(expected, abs=1e-4)


def test_prompts_of_different_lengths_get_an_explanation(model):
    from gptcore.edits import patching_scan

    with pytest.raises(ValueError, match="both need the same number of tokens"):
        patching_scan(model, IDS, IDS[:-1])
