import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gptcore.tensorfile import TensorFile, write_tensor_file

TENSORS = {
    "float": torch.randn(3, 5),
    "half": torch.randn(4).half(),
    "ints": torch.arange(6, dtype=torch.int64).reshape(2, 3),
    "empty": torch.zeros(0, 2),
    "scalar": torch.tensor(2.5),
}


def test_reads_what_safetensors_writes(tmp_path):
    save_file(TENSORS, tmp_path / "a.safetensors", metadata={"note": "hi"})
    file = TensorFile(tmp_path / "a.safetensors")
    assert file.metadata == {"note": "hi"}
    assert file.shapes["ints"] == (2, 3)
    for name, tensor in TENSORS.items():
        assert torch.equal(file.read(name), tensor), name


def test_safetensors_reads_what_we_write_including_transposed_layouts(tmp_path):
    transposed = torch.randn(4, 6).t()  # non-contiguous: written row-major all the same
    write_tensor_file(tmp_path / "b.safetensors", {**TENSORS, "transposed": transposed}, {"k": "v"})
    with safe_open(tmp_path / "b.safetensors", framework="pt") as file:
        assert file.metadata() == {"k": "v"}
        assert torch.equal(file.get_tensor("transposed"), transposed)
        assert torch.equal(file.get_tensor("half"), TENSORS["half"])


def test_read_into_fills_contiguous_and_strided_destinations(tmp_path):
    save_file({"w": torch.randn(3, 4)}, tmp_path / "c.safetensors")
    file = TensorFile(tmp_path / "c.safetensors")
    direct = torch.empty(3, 4)
    file.read_into("w", direct)
    strided = torch.empty(4, 3).t()
    file.read_into("w", strided)
    assert torch.equal(direct, file.read("w")) and torch.equal(strided, direct)
    with pytest.raises(ValueError, match="has shape"):
        file.read_into("w", torch.empty(4, 3))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "truncated|cut off"),
        (lambda data: b"\x00" * 8 + data[8:], "header is missing"),
        (lambda data: data[:8] + b"{not json" + data[17:], "not valid JSON"),
        (lambda data: b"garbage", "header is missing"),
    ],
)
def test_damaged_files_are_named(tmp_path, damage, message):
    good = tmp_path / "good.safetensors"
    save_file({"w": torch.randn(64, 64)}, good)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ValueError, match=message) as raised:
        TensorFile(bad).read("w")
    assert "bad.safetensors" in str(raised.value)
