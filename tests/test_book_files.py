"""The reader's own model from the book: chapter 5's .pth files and the book's parameter names."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from gptcore import GPT_CONFIG_124M, PRESETS, GPTConfig, GPTModel, build_model
from gptcore.book import infer_book_config, load_book_state_dict

SMALL = GPTConfig(vocab_size=50257, context_length=32, emb_dim=768, n_heads=12, n_layers=2, drop_rate=0.1)


@pytest.fixture(scope="module")
def small_model() -> GPTModel:
    return build_model(SMALL, seed=7)


def book_state_dict(model: GPTModel) -> dict[str, torch.Tensor]:
    """The state dict the book's GPTModel would save: gptcore's, plus each block's causal-mask buffer."""
    state = dict(model.state_dict())
    for block in range(model.cfg.n_layers):
        size = model.cfg.context_length
        state[f"trf_blocks.{block}.att.mask"] = torch.triu(torch.ones(size, size), diagonal=1)
    return state


def same_logits(a: GPTModel, b: GPTModel) -> None:
    ids = torch.tensor([[464, 3290, 318, 257, 1332]])
    with torch.no_grad():
        torch.testing.assert_close(a(ids), b(ids), rtol=0, atol=0)


def test_model_pth_written_the_books_way_loads_with_the_same_logits(small_model, tmp_path):
    torch.save(book_state_dict(small_model), tmp_path / "model.pth")  # chapter 5: torch.save(model.state_dict())
    loaded = load_book_state_dict(tmp_path / "model.pth")
    assert loaded.cfg == SMALL and not loaded.training
    same_logits(loaded, small_model)


def test_the_model_and_optimizer_dict_loads_the_same_way(small_model, tmp_path):
    optimizer = torch.optim.AdamW(small_model.parameters(), lr=4e-4, weight_decay=0.1)
    torch.save(
        {"model_state_dict": book_state_dict(small_model), "optimizer_state_dict": optimizer.state_dict()},
        tmp_path / "model_and_optimizer.pth",
    )
    same_logits(load_book_state_dict(tmp_path / "model_and_optimizer.pth"), small_model)
    same_logits(load_book_state_dict(torch.load(tmp_path / "model_and_optimizer.pth", weights_only=True)), small_model)


def test_chapter_5s_own_lines_work_on_gptcores_model(small_model, tmp_path):
    torch.save(book_state_dict(small_model), tmp_path / "model.pth")
    model = GPTModel(SMALL)  # as in chapter 5: model = GPTModel(GPT_CONFIG_124M)
    model.load_state_dict(torch.load(tmp_path / "model.pth", map_location="cpu", weights_only=True))
    model.eval()
    same_logits(model, small_model)


def test_the_books_attribute_paths_reach_the_same_parameters():
    torch.manual_seed(123)
    model = GPTModel(GPT_CONFIG_124M)
    block = model.trf_blocks[0]
    # What the book's load_weights_into_gpt assigns, by attribute path.
    for linear in (block.att.W_query, block.att.W_key, block.att.W_value, block.att.out_proj):
        assert isinstance(linear, nn.Linear) and linear.weight.shape == (768, 768)
    assert block.ff.layers[0].weight.shape == (3072, 768) and block.ff.layers[2].weight.shape == (768, 3072)
    assert isinstance(block.ff.layers[1], nn.Module) and type(block.ff.layers[1]).__name__ == "GELU"
    assert block.norm1.scale.shape == block.norm2.shift.shape == model.final_norm.scale.shape == (768,)
    assert model.out_head.weight.shape == (50257, 768) and model.pos_emb.weight.shape == (1024, 768)
    # Assigning as the book's assign() does: a new Parameter in place of the old one, and the model runs.
    block.ff.layers[0].weight = nn.Parameter(torch.zeros(3072, 768))
    assert model(torch.tensor([[1, 2]])).shape == (1, 2, 50257)


def test_the_config_is_inferred_from_the_shapes_and_a_given_one_must_match(small_model):
    state = book_state_dict(small_model)
    assert infer_book_config(state) == SMALL
    with_bias = build_model(replace(SMALL, qkv_bias=True), seed=1)
    assert infer_book_config(with_bias.state_dict()).qkv_bias
    odd_width = build_model(PRESETS["tiny"], seed=1).state_dict()  # 32 wide: not a GPT-2 width
    with pytest.raises(ValueError, match=r"not one of GPT-2's widths.*pass cfg with n_heads"):
        load_book_state_dict(odd_width)
    assert load_book_state_dict(odd_width, cfg=PRESETS["tiny"]).cfg.n_heads == PRESETS["tiny"].n_heads
    with pytest.raises(ValueError, match="context_length is 1024 but the file's shapes say 32"):
        load_book_state_dict(state, cfg={**GPT_CONFIG_124M, "n_layers": 2})


def test_missing_extra_and_odd_shaped_tensors_are_named(small_model):
    state = book_state_dict(small_model)
    del state["trf_blocks.1.norm2.scale"]
    state["trf_blocks.0.att.W_query.extra"] = torch.zeros(1)
    state["trf_blocks.0.ff.layers.2.bias"] = torch.zeros(5)
    with pytest.raises(ValueError) as caught:
        load_book_state_dict(state)
    message = str(caught.value)
    assert "1 tensors missing (trf_blocks.1.norm2.scale)" in message
    assert "1 unexpected (trf_blocks.0.att.W_query.extra)" in message
    assert "'trf_blocks.0.ff.layers.2.bias' is (5,), not (768,)" in message


def test_a_truncated_file_another_kind_of_file_and_a_pickled_object_get_clear_messages(small_model, tmp_path):
    torch.save(book_state_dict(small_model), tmp_path / "model.pth")
    whole = (tmp_path / "model.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(whole[: len(whole) // 2])  # an upload cut short
    with pytest.raises(ValueError, match=r"cut.pth is not a PyTorch .pth file, or it is damaged or incomplete"):
        load_book_state_dict(tmp_path / "cut.pth")

    (tmp_path / "notes.pth").write_text("these are my notes, not a model")
    with pytest.raises(ValueError, match=r"notes.pth is not a PyTorch .pth file"):
        load_book_state_dict(tmp_path / "notes.pth")

    torch.save({"model_state_dict": Exploit(tmp_path / "ran")}, tmp_path / "evil.pth")
    refused = r"evil.pth holds more than tensors.*it would build io.open.*never runs a pickle's code"
    with pytest.raises(ValueError, match=refused):
        load_book_state_dict(tmp_path / "evil.pth")
    assert not (tmp_path / "ran").exists()  # its code never ran

    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match=r"is not a model's state dict.*got list"):
        load_book_state_dict(tmp_path / "list.pth")
    with pytest.raises(ValueError, match="does not exist"):
        load_book_state_dict(tmp_path / "nowhere.pth")


class Exploit:
    """A pickle that would create a file if it were ever unpickled with code allowed."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_openai_weights_assigned_by_the_books_attribute_paths_give_hugging_faces_logits():
    """Chapter 5 fills a GPTModel by assigning OpenAI's arrays to attribute paths; on gptcore's model
    the same assignments give the same logits as Hugging Face's GPT-2 with those weights."""
    from test_weights import SMALL as HF_SHAPED
    from test_weights import hf_gpt2

    hf = hf_gpt2(HF_SHAPED, seed=3)
    weights = {name.removeprefix("transformer."): tensor for name, tensor in hf.state_dict().items()}
    model = GPTModel(HF_SHAPED)

    def put(parameter_owner, name: str, value: torch.Tensor) -> None:
        old = getattr(parameter_owner, name)
        assert old.shape == value.shape, (name, old.shape, value.shape)
        setattr(parameter_owner, name, nn.Parameter(value.clone()))  # a new Parameter, as the book's assign()

    put(model.pos_emb, "weight", weights["wpe.weight"])
    put(model.tok_emb, "weight", weights["wte.weight"])
    for b, block in enumerate(model.trf_blocks):
        # OpenAI's Conv1D stores (in, out): the book transposes, and splits c_attn into query, key, value.
        q_w, k_w, v_w = weights[f"h.{b}.attn.c_attn.weight"].split(HF_SHAPED.emb_dim, dim=-1)
        q_b, k_b, v_b = weights[f"h.{b}.attn.c_attn.bias"].split(HF_SHAPED.emb_dim, dim=-1)
        for linear, w, bias in (
            (block.att.W_query, q_w, q_b),
            (block.att.W_key, k_w, k_b),
            (block.att.W_value, v_w, v_b),
        ):
            put(linear, "weight", w.T)
            put(linear, "bias", bias)
        put(block.att.out_proj, "weight", weights[f"h.{b}.attn.c_proj.weight"].T)
        put(block.att.out_proj, "bias", weights[f"h.{b}.attn.c_proj.bias"])
        put(block.ff.layers[0], "weight", weights[f"h.{b}.mlp.c_fc.weight"].T)
        put(block.ff.layers[0], "bias", weights[f"h.{b}.mlp.c_fc.bias"])
        put(block.ff.layers[2], "weight", weights[f"h.{b}.mlp.c_proj.weight"].T)
        put(block.ff.layers[2], "bias", weights[f"h.{b}.mlp.c_proj.bias"])
        put(block.norm1, "scale", weights[f"h.{b}.ln_1.weight"])
        put(block.norm1, "shift", weights[f"h.{b}.ln_1.bias"])
        put(block.norm2, "scale", weights[f"h.{b}.ln_2.weight"])
        put(block.norm2, "shift", weights[f"h.{b}.ln_2.bias"])
    put(model.final_norm, "scale", weights["ln_f.weight"])
    put(model.final_norm, "shift", weights["ln_f.bias"])
    put(model.out_head, "weight", weights["wte.weight"])  # GPT-2 ties its head to the token embedding
    model.eval()
    ids = torch.tensor([[464, 3290, 318, 257, 1332, 13]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf(ids).logits, atol=1e-4, rtol=0)
