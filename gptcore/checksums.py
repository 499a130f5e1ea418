"""Is a cached pretrained GPT-2 really OpenAI's? Its files checked against their published checksums.

The Hugging Face cache keeps each downloaded file as a blob named by the checksum the Hub sent for
it: the SHA-256 of the content for large (LFS) files, the git object id (SHA-1 of "blob <size>\\0"
and the content) for small ones. So a cached file can always be checked against what the Hub
published when it was fetched. For gpt2, whose model.safetensors and config.json checksums are
pinned here as published on huggingface.co, the check is against those numbers themselves: a copy
that some other endpoint served (a test's loopback hub, a mirror) cannot pass it.

A check reads every byte (about a second per 500 MB) and is remembered per file and modification
time, so it runs once per file per process.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

# As published on huggingface.co for openai-community/gpt2 (revision 607a30d783dfa663caf39e06633721c8d4cfcd7e).
PUBLISHED_SHA256 = {
    "gpt2": {
        "model.safetensors": "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707",
        "config.json": "0daed7749b4f02b8f76240d5444551d7b08712dab4d0adb8239c56ba823bb7b4",
    }
}
CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileDigests:
    sha256: str
    git_sha1: str  # the git object id of the content, as the Hub names small files


@dataclass(frozen=True)
class Verdict:
    """What the check found for one cached model."""

    verified: bool
    against: str  # "the published checksums" or "the checksums the Hub sent"
    problem: str | None = None  # which file did not match, for people


_digests: dict[tuple[str, int, int], FileDigests] = {}
_lock = threading.Lock()


def file_digests(path: Path) -> FileDigests:
    """SHA-256 and git SHA-1 of a file, read once per (path, size, modification time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _digests:
            return _digests[key]
    sha256 = hashlib.sha256()
    git_sha1 = hashlib.sha1(f"blob {stat.st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            sha256.update(chunk)
            git_sha1.update(chunk)
    digests = FileDigests(sha256.hexdigest(), git_sha1.hexdigest())
    with _lock:
        _digests[key] = digests
    return digests


def verify_cached_model(name: str, folder: Path, files: tuple[str, ...]) -> Verdict:
    """Check a cached model's ``files`` in its snapshot ``folder``: against gptcore's pinned checksums
    where it has them, else against the blob names the Hub's checksums gave them."""
    pinned = PUBLISHED_SHA256.get(name)
    against = "the published checksums" if pinned is not None else "the checksums the Hub sent"
    wrong = []
    for file_name in files:
        path = folder / file_name
        digests = file_digests(path)
        # Pinned: OpenAI's published sum. Otherwise the cache's blobs/<checksum the Hub sent>.
        expected = {pinned[file_name]} if pinned is not None else {path.resolve().name}
        if not expected & {digests.sha256, digests.git_sha1}:
            wrong.append(file_name)
    if not wrong:
        return Verdict(True, against)
    files_text = " and ".join(wrong)
    which = "OpenAI's" if pinned is not None else "its checksum"
    return Verdict(False, against, f"{files_text} {'differs' if len(wrong) == 1 else 'differ'} from {which}")
