"""A cached pretrained GPT-2 is checked against its published checksums before it is called ready."""

import hashlib
import os

import pytest

from gptcore import hub
from gptcore.checksums import PUBLISHED_SHA256, file_digests, verify_cached_model


def hub_cache(cache_dir, repo: str, files: dict[str, bytes], blob_names: dict[str, str] | None = None):
    """huggingface_hub's layout: blobs named by the Hub's checksum, snapshot files linking to them."""
    repo_dir = cache_dir / ("models--" + repo.replace("/", "--"))
    (repo_dir / "blobs").mkdir(parents=True)
    snapshot = repo_dir / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("0123abcd")
    for name, content in files.items():
        blob = (blob_names or {}).get(name) or hashlib.sha256(content).hexdigest()
        (repo_dir / "blobs" / blob).write_bytes(content)
        os.symlink(os.path.relpath(repo_dir / "blobs" / blob, snapshot), snapshot / name)
    return snapshot


def git_object_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def test_digests_are_sha256_and_the_git_object_id(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"n_layer": 24}')
    digests = file_digests(path)
    assert digests.sha256 == hashlib.sha256(b'{"n_layer": 24}').hexdigest()
    assert digests.git_sha1 == git_object_id(b'{"n_layer": 24}')


def test_a_copy_matching_the_checksums_the_hub_sent_passes_and_a_changed_byte_fails(tmp_path):
    weights, config = b"weights " * 1000, b'{"n_layer": 24}'
    # As the Hub names them: the SHA-256 for the large file, the git object id for the small one.
    snapshot = hub_cache(
        tmp_path,
        "openai-community/gpt2-medium",
        {"config.json": config, "model.safetensors": weights},
        blob_names={"config.json": git_object_id(config)},
    )
    verdict = verify_cached_model("gpt2-medium", snapshot, hub.FILES)
    assert verdict.verified and verdict.against == "the checksums the Hub sent"

    blob = (snapshot / "model.safetensors").resolve()
    blob.write_bytes(b"weightz " * 1000)  # damaged on disk after the download
    verdict = verify_cached_model("gpt2-medium", snapshot, hub.FILES)
    assert not verdict.verified and verdict.problem == "model.safetensors differs from its checksum"


def test_gpt2_is_checked_against_openais_published_numbers_not_the_hubs(tmp_path):
    # A loopback hub names its blobs by their own checksums: for gpt2 that is not enough.
    snapshot = hub_cache(tmp_path, "openai-community/gpt2", {"config.json": b"{}", "model.safetensors": b"random"})
    verdict = verify_cached_model("gpt2", snapshot, hub.FILES)
    assert not verdict.verified
    assert verdict.problem == "config.json and model.safetensors differ from OpenAI's"
    assert PUBLISHED_SHA256["gpt2"]["model.safetensors"].startswith("248dfc39")


def test_verify_local_finds_the_cached_copy_or_says_none(tmp_path):
    assert hub.verify_local("gpt2-large", cache_dir=tmp_path) is None
    hub_cache(tmp_path, "openai-community/gpt2-large", {"config.json": b"{}", "model.safetensors": b"w"})
    assert hub.verify_local("gpt2-large", cache_dir=tmp_path).verified
    with pytest.raises(ValueError, match="unknown pretrained model"):
        hub.verify_local("gpt3", cache_dir=tmp_path)
