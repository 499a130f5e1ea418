import copy

import numpy as np
import pytest
import torch

from gptcore import GradientReport, gradient_norms, shortcut_experiment
from gptcore.gradients import lm_loss
from ui.tables import shortcut_experiment_frame, shortcut_gradient_frame

# The book prints these means to full float32 precision; our values differ in the last digit.
BOOK_WITH_SHORTCUTS = [
    0.22169792652130127,
    0.20694105327129364,
    0.32896995544433594,
    0.2665732502937317,
    1.3258541822433472,
]
BOOK_WITHOUT_SHORTCUTS = [
    0.00020173587836325169, 0.00012011159560643137, 0.0007152039906941354, 0.001398873864673078, 0.005049646366387606,
]  # fmt: skip


def five_significant(values):
    return [float(f"{v:.5g}") for v in values]


def test_books_shortcut_experiment_with_shortcuts():
    grads = shortcut_experiment(use_shortcut=True)
    assert grads == pytest.approx(BOOK_WITH_SHORTCUTS, rel=1e-5)
    assert five_significant(grads) == [0.2217, 0.20694, 0.32897, 0.26657, 1.3259]


def test_books_shortcut_experiment_without_shortcuts():
    grads = shortcut_experiment(use_shortcut=False)
    assert grads == pytest.approx(BOOK_WITHOUT_SHORTCUTS, rel=1e-5)
    assert five_significant(grads) == [0.00020174, 0.00012011, 0.0007152, 0.0013989, 0.0050496]


def test_gradient_norms_match_a_plain_backward_pass(tiny_model, prompt_ids):
    report = gradient_norms(tiny_model, prompt_ids)

    reference = copy.deepcopy(tiny_model)  # a private copy may be changed freely
    logits = reference(prompt_ids.unsqueeze(0))[0]
    loss = lm_loss(logits, prompt_ids)
    loss.backward()
    assert report.loss == pytest.approx(loss.item())
    for layer, block in enumerate(reference.trf_blocks):
        block_norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in block.parameters()))
        assert report.param_grad_norm[layer] == pytest.approx(float(block_norm), rel=1e-4)
    embedding_norm = torch.sqrt(reference.tok_emb.weight.grad.pow(2).sum() + reference.pos_emb.weight.grad.pow(2).sum())
    assert report.embedding_grad_norm == pytest.approx(float(embedding_norm), rel=1e-4)
    assert report.resid_grad_norm.shape == (tiny_model.cfg.n_layers, len(prompt_ids))
    # the last token predicts nothing, so nothing flows back into its own position at the last block
    assert report.resid_grad_norm[-1, -1] == 0.0


def test_gradients_leave_the_shared_model_untouched(tiny_model, prompt_ids):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    gradient_norms(tiny_model, prompt_ids)
    gradient_norms(tiny_model, prompt_ids, use_shortcut=False)
    assert all(p.grad is None for p in tiny_model.parameters())
    assert all(p.requires_grad for p in tiny_model.parameters())
    assert not tiny_model.training
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())


def test_without_shortcuts_the_gradient_reaching_the_first_block_shrinks(book_model, tokenizer):
    # Book section 4.4 on the real architecture: the untrained 124M model, twelve blocks. Each
    # block's LayerNorm rescales what passes through, so the parameter gradients do not vanish
    # as in the toy network; what shrinks is the gradient of the stream entering the first block
    # compared with the last one.
    ids = tokenizer.encode("Every effort moves you toward finding the answer")
    with_shortcuts = gradient_norms(book_model, ids, use_shortcut=True)
    without = gradient_norms(book_model, ids, use_shortcut=False)
    resid_on = with_shortcuts.stream_gradient_relative()
    resid_off = without.stream_gradient_relative()
    expected = np.linalg.norm(with_shortcuts.resid_grad_norm, axis=1) / resid_on_last(with_shortcuts)
    np.testing.assert_allclose(resid_on, expected, rtol=1e-5)
    assert resid_on[0] > 1.0  # with shortcuts the first block gets the most
    assert resid_off[0] < 0.5 * resid_on[0]
    # Why the weights' gradients do not vanish: without shortcuts the stream entering blocks 1..11 is
    # one sublayer's small output, and each LayerNorm divides by that small deviation on the way back.
    assert (without.resid_std[1:] < 0.5 * with_shortcuts.resid_std[1:]).all()
    assert (without.param_grad_norm > with_shortcuts.param_grad_norm).all()


def resid_on_last(report: GradientReport) -> float:
    return float(np.linalg.norm(report.resid_grad_norm[-1]))


def test_a_single_token_has_no_loss(tiny_model):
    with pytest.raises(ValueError, match="at least two tokens"):
        gradient_norms(tiny_model, [5])


def _report(use_shortcut: bool, scale: float) -> GradientReport:
    return GradientReport(
        use_shortcut=use_shortcut,
        loss=2.5 * scale,
        param_grad_norm=np.array([1.0, 2.0]) * scale,
        resid_grad_norm=np.array([[0.3, 0.4, 0.0], [1.0, 2.0, 2.0]]) * scale,  # (L=2, T=3)
        embedding_grad_norm=0.5,
        resid_std=np.array([1.4, 1.5]),
    )


def test_gradient_frame_takes_the_norm_over_all_tokens_and_relative_to_the_last_block():
    frame = shortcut_gradient_frame(_report(True, 1.0), _report(False, 10.0))
    assert frame["setting"].tolist() == ["shortcuts on"] * 2 + ["shortcuts off"] * 2
    assert frame["block"].tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(frame["stream gradient norm"], [0.5, 3.0, 5.0, 30.0])  # sqrt(0.09 + 0.16), sqrt(9)
    np.testing.assert_allclose(frame["stream gradient ÷ last block's"], [0.5 / 3, 1.0, 0.5 / 3, 1.0])
    np.testing.assert_allclose(frame["stream standard deviation"], [1.4, 1.5, 1.4, 1.5])
    np.testing.assert_allclose(frame["parameter gradient norm"], [1.0, 2.0, 10.0, 20.0])
    assert frame["loss"].tolist() == [2.5, 2.5, 25.0, 25.0]


def test_shortcut_experiment_frame_keeps_layer_order():
    frame = shortcut_experiment_frame([0.2, 0.3, 1.3], [0.0002, 0.001, 0.005])
    assert frame["layer"].tolist() == [1, 2, 3, 1, 2, 3]
    assert frame.loc[frame["setting"] == "shortcuts off", "mean absolute gradient"].tolist() == [0.0002, 0.001, 0.005]
    with pytest.raises(ValueError):
        shortcut_experiment_frame([1.0], [1.0, 2.0])
