import pytest
import torch

import gptcore.checkpoints
import gptcore.tensorfile
from gptcore import PRESETS, build_model
from gptcore.checkpoints import list_checkpoints, load_checkpoint, read_checkpoint_info, save_checkpoint
from gptcore.tensorfile import TensorFile, write_tensor_file


def test_round_trip_gives_identical_logits(tmp_path, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "tiny.safetensors", source="untrained, seed 7", seed=7)
    loaded = load_checkpoint(path)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.equal(loaded(ids), tiny_model(ids))
    assert loaded.cfg == tiny_model.cfg
    assert not loaded.training
    info = read_checkpoint_info(path)
    assert (info.source, info.seed, info.training_steps) == ("untrained, seed 7", 7, 0)
    assert info.size_bytes == path.stat().st_size and info.saved_at


def test_listing_finds_checkpoints_newest_first_and_skips_other_files(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path / "a.safetensors", source="a", training_steps=10)
    (tmp_path / "notes.safetensors").write_bytes(b"not a checkpoint")
    (tmp_path / ".b.safetensors.123.tmp").write_bytes(b"half written")
    [info] = list_checkpoints(tmp_path)
    assert info.path.name == "a.safetensors" and info.training_steps == 10
    assert list_checkpoints(tmp_path / "missing") == []


def test_a_crash_mid_save_leaves_no_half_written_file(tmp_path, tiny_model, monkeypatch):
    target = tmp_path / "model.safetensors"
    save_checkpoint(tiny_model, target, source="first")
    before = target.read_bytes()
    calls = 0
    original = gptcore.tensorfile._tensor_bytes

    def failing_after_three_tensors(tensor):
        nonlocal calls
        calls += 1
        if calls > 3:
            raise OSError("disk full (injected)")
        return original(tensor)

    monkeypatch.setattr(gptcore.tensorfile, "_tensor_bytes", failing_after_three_tensors)
    with pytest.raises(OSError, match="injected"):
        save_checkpoint(build_model(PRESETS["tiny"], seed=1), target, source="second")
    assert target.read_bytes() == before  # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no temporary left
    assert read_checkpoint_info(target).source == "first"


def test_loading_explains_what_is_wrong(tmp_path, tiny_model):
    with pytest.raises(ValueError, match=r"end in \.safetensors"):
        save_checkpoint(tiny_model, tmp_path / "model.pt", source="x")
    plain = tmp_path / "plain.safetensors"
    write_tensor_file(plain, {"w": torch.zeros(2)}, {})
    with pytest.raises(ValueError, match="not a gptcore checkpoint"):
        load_checkpoint(plain)

    good = save_checkpoint(tiny_model, tmp_path / "good.safetensors", source="x")
    file = TensorFile(good)
    tensors = {name: file.read(name) for name in file.shapes}

    tensors["trf_blocks.0.ff.layers.0.weight"] = torch.zeros(3, 3)
    write_tensor_file(tmp_path / "shape.safetensors", tensors, file.metadata)
    with pytest.raises(ValueError, match=r"'trf_blocks\.0\.ff\.layers\.0\.weight' has shape \(3, 3\)"):
        load_checkpoint(tmp_path / "shape.safetensors")

    del tensors["trf_blocks.0.ff.layers.0.weight"]
    write_tensor_file(tmp_path / "missing.safetensors", tensors, file.metadata)
    with pytest.raises(ValueError, match="missing"):
        load_checkpoint(tmp_path / "missing.safetensors")

    bad_config = file.metadata[gptcore.checkpoints.METADATA_KEY].replace('"n_heads": 4', '"n_heads": 5')
    write_tensor_file(tmp_path / "config.safetensors", tensors, {gptcore.checkpoints.METADATA_KEY: bad_config})
    with pytest.raises(ValueError, match=r"invalid config.*divisible"):
        load_checkpoint(tmp_path / "config.safetensors")

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        load_checkpoint(truncated)


def test_a_checkpoint_saved_under_the_old_feedforward_names_still_loads(tiny_model, tmp_path):
    saved = save_checkpoint(tiny_model, tmp_path / "new.safetensors", source="x")
    file = TensorFile(saved)
    # As gptcore wrote checkpoints before the book's nn.Sequential: ff.fc_in and ff.fc_out.
    old = {name.replace(".ff.layers.0.", ".ff.fc_in.").replace(".ff.layers.2.", ".ff.fc_out."): file.read(name)
           for name in file.shapes}  # fmt: skip
    assert "trf_blocks.0.ff.fc_in.weight" in old
    write_tensor_file(tmp_path / "old.safetensors", old, file.metadata)
    loaded = load_checkpoint(tmp_path / "old.safetensors")
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), tiny_model(ids))
