"""OpenAI's pretrained GPT-2 from the Hugging Face Hub: finding it in the local cache, downloading it, loading it.

``load_pretrained("gpt2")`` loads the 124M model: from the local Hugging Face cache when it is
there (no network at all), else after downloading its ``config.json`` and ``model.safetensors``
with ``huggingface_hub.hf_hub_download`` (gptcore.local reads the files).

Downloads go to the Hub's plain HTTP endpoint (``{endpoint}/{repo}/resolve/main/{file}``): a HEAD
request for the file's metadata, then a GET for its bytes. Progress and cancellation ride on the
progress bar class that ``hf_hub_download`` accepts (``tqdm_class``): its ``update()`` sees every
chunk as it arrives, reports it, and raises ``DownloadCancelled`` when asked to stop. The bytes land
in a temporary ``*.incomplete`` file that ``huggingface_hub`` deletes when the download fails, so
a cancelled download leaves nothing under the file's real cache name.

This module never imports Streamlit and never prints: the app shows what it reports.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import FileMetadataError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
from tqdm.std import tqdm

from .checksums import Verdict, verify_cached_model
from .config import PRESETS
from .local import CONFIG_FILE, load_weights_file
from .model import GPTModel
from .stats import BYTES_PER_FLOAT32, format_bytes, memory_to_load, size_report
from .weights import (
    PRETRAINED_REPOS,
    WEIGHTS_FILE,
    cached_pretrained_folder,
)

FILES = (CONFIG_FILE, WEIGHTS_FILE)  # what a GPT-2 needs from its repo, in download order
HUB_URL = "https://huggingface.co"  # where the files come from, whatever endpoint this process uses

ProgressCallback = Callable[[int, int], None]  # (bytes_done, bytes_total); bytes_total is 0 if unknown


class HubUnavailableError(RuntimeError):
    """The Hub could not be reached (no connection, timeout, offline mode) or would not serve the files."""


class DownloadCancelled(Exception):  # noqa: N818 (not an error: the user asked for it)
    """The download was stopped because its ``cancel`` event was set."""


# --------------------------------------------------------------------------------------------------
# The four sizes


@dataclass(frozen=True)
class PretrainedInfo:
    """One of OpenAI's GPT-2 sizes on the Hub. The size figures are computed on first use."""

    name: str  # the short name transformers uses: "gpt2", "gpt2-medium", ...
    repo_id: str  # "openai-community/gpt2", ...
    label: str  # the size OpenAI named it by: "124M", "355M", "774M", "1558M"
    preset: str  # the matching key of gptcore.PRESETS
    exact_download_bytes: int | None = None  # model.safetensors' size on the Hub, where known exactly

    @property
    def parameters(self) -> int:
        """Parameters as stored in model.safetensors (GPT-2 ties its output head to the token embedding)."""
        return size_report(PRESETS[self.preset]).parameters_tied

    @property
    def download_bytes(self) -> int:
        """Bytes of model.safetensors: exact where known, else estimated from the config.

        The files hold the parameters in float32 and, for every layer, the 1024 x 1024 float32
        causal-mask buffer that older transformers saved ("h.<i>.attn.bias"); the estimate for
        gpt2 that way is within 0.01% of its real size.
        """
        if self.exact_download_bytes is not None:
            return self.exact_download_bytes
        cfg = PRESETS[self.preset]
        mask_buffers = cfg.n_layers * cfg.context_length**2
        return (self.parameters + mask_buffers) * BYTES_PER_FLOAT32

    @property
    def download_bytes_exact(self) -> bool:
        return self.exact_download_bytes is not None

    @property
    def ram_bytes(self) -> int:
        """Memory to load it: gptcore's float32 model plus the one tensor being read at a time."""
        return memory_to_load(PRESETS[self.preset])

    def url(self, filename: str = WEIGHTS_FILE) -> str:
        """Where a file of this model comes from on huggingface.co."""
        return f"{HUB_URL}/{self.repo_id}/resolve/main/{filename}"

    def describe(self) -> str:
        """One line for people: 'gpt2 (124M): 548 MB download, about 807 MB of memory to load'."""
        about = "" if self.download_bytes_exact else "about "
        return (
            f"{self.name} ({self.label}): {about}{format_bytes(self.download_bytes)} download, "
            f"about {format_bytes(self.ram_bytes)} of memory to load"
        )


_LABELS = {"gpt2": "124M", "gpt2-medium": "355M", "gpt2-large": "774M", "gpt2-xl": "1558M"}
_PRESET_OF = {"gpt2": "gpt2-small", "gpt2-medium": "gpt2-medium", "gpt2-large": "gpt2-large", "gpt2-xl": "gpt2-xl"}
# Only gpt2's file size is pinned here (checked against the Hub's listing: 548,105,171 bytes; it also
# holds each layer's 1024 x 1024 attention-mask buffer). The others are estimated from the parameters.
_EXACT_BYTES = {"gpt2": 548_105_171}

PRETRAINED: dict[str, PretrainedInfo] = {
    name: PretrainedInfo(name, repo_id, _LABELS[name], _PRESET_OF[name], _EXACT_BYTES.get(name))
    for name, repo_id in PRETRAINED_REPOS.items()
}


def _info(name: str) -> PretrainedInfo:
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of: {', '.join(PRETRAINED)}")
    return PRETRAINED[name]


# --------------------------------------------------------------------------------------------------
# The local cache


def find_local(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The cache's snapshot folder holding ``name``'s config.json and model.safetensors, or None.

    Only the disk is looked at, never the network.
    """
    info = _info(name)
    folder = cached_pretrained_folder(name, cache_dir=cache_dir)
    if folder is None:
        return None
    config = try_to_load_from_cache(info.repo_id, CONFIG_FILE, cache_dir=cache_dir)
    if not isinstance(config, str) or Path(config).parent != folder:
        return None
    return folder


def verify_local(name: str, cache_dir: str | Path | None = None) -> Verdict | None:
    """Whether the cached copy of ``name`` matches its published checksums (None: not in the cache).

    Reads every byte of its files the first time (gptcore.checksums remembers the result).
    """
    folder = find_local(name, cache_dir=cache_dir)
    return None if folder is None else verify_cached_model(name, folder, FILES)


# --------------------------------------------------------------------------------------------------
# Downloading


def _progress_bar_class(cancel: threading.Event | None, on_bytes: ProgressCallback | None, filename: str) -> type[tqdm]:
    """A tqdm class for ``hf_hub_download(tqdm_class=...)`` that draws nothing and instead reports
    bytes to ``on_bytes`` and stops the download when ``cancel`` is set."""

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise DownloadCancelled(f"the download of {filename} was cancelled")

    class _Reporter(tqdm):
        def __init__(self, *args, **kwargs) -> None:
            kwargs.pop("name", None)  # only huggingface_hub's own tqdm takes a name
            kwargs["disable"] = True  # no bar on the terminal: the caller shows progress its own way
            super().__init__(*args, **kwargs)

        def update(self, n: int | float = 1) -> bool:
            # huggingface_hub calls this once per chunk it has written (10 MB by default).
            self.n += n
            if on_bytes is not None:
                on_bytes(int(self.n), int(self.total or 0))
            check_cancel()
            return True

        # Used only when a download goes through Xet (see _plain_http_downloads): then bytes received
        # arrive here and bytes written through update(); defining these keeps that to one bar.
        def update_transfer(self, n: int | float = 1) -> None:
            check_cancel()

        def set_transfer_postfix_str(self, *args, **kwargs) -> None:
            pass

    return _Reporter


_xet_lock = threading.Lock()
_xet_users = 0
_xet_setting = False


@contextmanager
def _plain_http_downloads() -> Iterator[None]:
    """Download over plain HTTP, not Xet, while inside.

    With hf_xet installed, huggingface_hub fetches Xet-stored files (as OpenAI's GPT-2 files are on
    the Hub) through hf_xet's Rust downloader, which reports progress from its own threads; an
    exception raised there to cancel is not a documented way to stop it. Over plain HTTP every chunk
    passes through our progress class, so cancelling is prompt and tested. The Hub serves every file
    over plain HTTP too (huggingface_hub's own fallback). huggingface_hub reads HF_HUB_DISABLE_XET
    once, at import, into ``constants``, so that is what is switched, and restored after the last
    download running in this process ends.
    """
    global _xet_users, _xet_setting
    with _xet_lock:
        if _xet_users == 0:
            _xet_setting = hf_constants.HF_HUB_DISABLE_XET
            hf_constants.HF_HUB_DISABLE_XET = True
        _xet_users += 1
    try:
        yield
    finally:
        with _xet_lock:
            _xet_users -= 1
            if _xet_users == 0:
                hf_constants.HF_HUB_DISABLE_XET = _xet_setting


def _endpoint(endpoint: str | None) -> str | None:
    """The explicit endpoint, else HF_ENDPOINT as set now, else None (huggingface_hub's default)."""
    chosen = endpoint or os.environ.get("HF_ENDPOINT") or None
    return chosen.rstrip("/") if chosen else None


def _offline_mode() -> bool:
    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return hf_constants.is_offline_mode() or flag.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _unavailable(info: PretrainedInfo, endpoint: str | None, reason: str, cache_dir: str | Path | None):
    cache = Path(cache_dir) if cache_dir is not None else Path(hf_constants.HF_HUB_CACHE)
    size = ("" if info.download_bytes_exact else "about ") + format_bytes(info.download_bytes)
    return HubUnavailableError(
        f"Could not download GPT-2 '{info.name}' ({info.repo_id}) from {endpoint or hf_constants.ENDPOINT}: "
        f"{reason}.\n"
        f"It needs two files, {CONFIG_FILE} and {WEIGHTS_FILE} ({size}), which come from\n"
        f"  {info.url(CONFIG_FILE)}\n"
        f"  {info.url(WEIGHTS_FILE)}\n"
        "Fetch them on a machine that has a connection, then either put both in one folder and open it "
        "with gptcore's local-folder loader (gptcore.load_local(folder)), or copy the Hugging Face "
        f"cache folder models--{info.repo_id.replace('/', '--')} (made by "
        f"`hf download {info.repo_id} {CONFIG_FILE} {WEIGHTS_FILE}`) into {cache}."
    )


# What huggingface_hub raises when it cannot get a file from the endpoint.
_HUB_ERRORS = (httpx2.HTTPError, OfflineModeIsEnabled, HfHubHTTPError, LocalEntryNotFoundError, FileMetadataError)


def _reason(error: BaseException) -> str:
    if isinstance(error, OfflineModeIsEnabled):
        return "offline mode is on (HF_HUB_OFFLINE is set)"
    if isinstance(error, httpx2.TimeoutException):
        return f"the server did not answer in time ({error or type(error).__name__})"
    if isinstance(error, httpx2.ConnectError):
        return f"could not connect ({error})"
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        return f"the server answered HTTP {error.response.status_code} ({str(error).splitlines()[0]})"
    if isinstance(error, LocalEntryNotFoundError) and error.__cause__ is not None:
        return _reason(error.__cause__)
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def download_pretrained(
    name: str,
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download ``name``'s config.json and model.safetensors into the Hugging Face cache; return
    the snapshot folder that holds them.

    ``progress(bytes_done, bytes_total)`` is called as model.safetensors arrives (config.json is a
    few hundred bytes and is not reported). It is not called for a file the cache already has.
    ``endpoint``: the Hub to ask; default HF_ENDPOINT as set at call time, else huggingface.co.
    ``cancel``: set this event (from any thread) to stop the download; ``DownloadCancelled`` is
    raised and no partial file is left under the file's cache name.

    Raises HubUnavailableError when the endpoint cannot be reached or will not serve the files.
    """
    info = _info(name)
    endpoint = _endpoint(endpoint)

    def fail(reason: str) -> HubUnavailableError:
        return _unavailable(info, endpoint, reason, cache_dir)

    if cancel is not None and cancel.is_set():
        raise DownloadCancelled(f"the download of {info.name} was cancelled before it started")
    if _offline_mode():
        raise fail("offline mode is on (HF_HUB_OFFLINE is set)")

    # One quick HEAD first: without it, a refused connection would make hf_hub_download retry with
    # back-off for about 20 seconds before giving up.
    try:
        get_hf_file_metadata(hf_hub_url(info.repo_id, CONFIG_FILE, endpoint=endpoint), endpoint=endpoint)
    except _HUB_ERRORS as error:
        raise fail(_reason(error)) from error

    folder: Path | None = None
    with _plain_http_downloads():
        for filename in FILES:
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled(f"the download of {filename} was cancelled")
            reporter = progress if filename == WEIGHTS_FILE else None
            try:
                path = hf_hub_download(
                    info.repo_id,
                    filename,
                    cache_dir=cache_dir,
                    endpoint=endpoint,
                    tqdm_class=_progress_bar_class(cancel, reporter, filename),
                )
            except _HUB_ERRORS as error:
                raise fail(f"{filename}: {_reason(error)}") from error
            except OSError as error:
                if "Consistency check failed" not in str(error):
                    raise  # e.g. a full disk: not the Hub's fault
                raise fail(f"the download of {filename} was cut short; try again") from error
            folder = Path(path).parent
    assert folder is not None
    return folder


# --------------------------------------------------------------------------------------------------
# Loading


def load_pretrained(
    name: str,
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    cancel: threading.Event | None = None,
) -> GPTModel:
    """OpenAI's pretrained GPT-2 ``name`` ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl").

    From the local Hugging Face cache when it holds the files (no network call at all), else
    downloaded first with ``download_pretrained`` (same arguments). Raises ValueError for an
    unknown name or a damaged file, HubUnavailableError or DownloadCancelled from the download.
    """
    _info(name)
    folder = find_local(name, cache_dir=cache_dir)
    if folder is None:
        folder = download_pretrained(name, progress=progress, cache_dir=cache_dir, endpoint=endpoint, cancel=cancel)
    try:
        return load_weights_file(folder / WEIGHTS_FILE)
    except ValueError as error:
        # The snapshot's file links to a blob that huggingface_hub would link to again: the whole
        # repo folder has to go for the next load to download a fresh copy.
        raise ValueError(
            f"{error}. For a fresh copy, delete the folder {folder.parent.parent} and load it again"
        ) from error
