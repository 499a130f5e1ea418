"""The real download path, end to end, against a Hugging Face Hub served on loopback.

``huggingface_hub.hf_hub_download`` (2.4) fetches a file with two requests to the endpoint:

- ``HEAD {endpoint}/{repo}/resolve/{revision}/{filename}``: the answer must carry ``X-Repo-Commit``
  (the commit, which names the cache's snapshot folder), ``ETag`` or ``X-Linked-Etag`` (which names
  the cached blob) and the size (``X-Linked-Size``, else ``Content-Length``). Large (LFS) files on
  the real Hub answer with a 302 to a CDN on another host, and the client takes the metadata from
  the 302 itself without following it.
- ``GET`` on that URL (or on the redirect's ``Location``) for the bytes, with ``Range: bytes=N-``
  only when it resumes after a dropped connection.

No /api call is made. FakeHub below answers exactly these, for a tiny GPT-2 made with transformers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from conftest import fake_hub_cache
from transformers import GPT2Config, GPT2LMHeadModel

from gptcore import PRESETS, GPTConfig, hub, size_report
from gptcore.hub import (
    PRETRAINED,
    DownloadCancelled,
    HubUnavailableError,
    PretrainedInfo,
    download_pretrained,
    find_local,
    load_pretrained,
)
from gptcore.local import load_local
from gptcore.weights import PRETRAINED_REPOS

REPO = "openai-community/gpt2"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOLERANCE = 1e-4
CHUNK = 256 * 1024  # the client reads 10 MB chunks; the tiny model's file is ~6.5 MB, so use smaller ones


# --------------------------------------------------------------------------------------------------
# A Hub on loopback


class FakeHub:
    """Serves ``files`` as the repo REPO at revision main, the way huggingface.co does.

    ``cdn_host``: answer HEAD/GET for model.safetensors with a 302 to ``http://{cdn_host}:{port}/cdn/...``
    (use "localhost" against an endpoint on 127.0.0.1: another host, as the real Hub's CDN is).
    ``xet``: also say, as the real Hub does for GPT-2's weights, that model.safetensors is stored in Xet.
    """

    def __init__(self, files: dict[str, bytes], cdn_host: str | None = None, xet: bool = False) -> None:
        self.files = files
        self.cdn_host = cdn_host
        self.xet = xet
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        hub_self = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_HEAD(self) -> None:
                hub_self.answer(self, body=False)

            def do_GET(self) -> None:
                hub_self.answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()

    @staticmethod
    def etag(data: bytes, lfs: bool) -> str:
        # The Hub's ETags: an LFS file's sha256, a plain git file's blob sha1.
        return hashlib.sha256(data).hexdigest() if lfs else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        self.requests.append((handler.command, handler.path, handler.headers.get("Range")))
        match = re.fullmatch(rf"/{REPO}/resolve/([^/]+)/(.+)", handler.path)
        cdn = re.fullmatch(r"/cdn/([0-9a-f]{64})", handler.path)
        if cdn:
            name = next((n for n, d in self.files.items() if self.etag(d, True) == cdn.group(1)), None)
            if name is None:
                return self.send(handler, 404, {})
            return self.send_file(handler, self.files[name], body, {})
        if match is None or match.group(1) not in ("main", COMMIT):
            return self.send(handler, 404, {"X-Error-Code": "RepoNotFound"})
        filename = match.group(2)
        if filename not in self.files:
            return self.send(handler, 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
        data = self.files[filename]
        lfs = filename.endswith(".safetensors")
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{self.etag(data, lfs)}"'}
        if lfs:
            headers |= {"X-Linked-Etag": f'"{self.etag(data, True)}"', "X-Linked-Size": str(len(data))}
        if lfs and self.xet:
            route = f"{self.url}/api/models/{REPO}/xet-read-token/{COMMIT}"
            headers |= {"X-Xet-Hash": hashlib.sha256(b"xet" + data).hexdigest(), "X-Xet-Refresh-Route": route}
        if lfs and self.cdn_host:
            location = f"http://{self.cdn_host}:{self.port}/cdn/{self.etag(data, True)}"
            return self.send(handler, 302, headers | {"Location": location})
        return self.send_file(handler, data, body, headers)

    def send_file(self, handler, data: bytes, body: bool, headers: dict[str, str]) -> None:
        status, start, end = 200, 0, len(data) - 1
        asked = re.fullmatch(r"bytes=(\d+)-(\d*)", handler.headers.get("Range") or "")
        if asked:
            status, start = 206, int(asked.group(1))
            end = min(int(asked.group(2)), end) if asked.group(2) else end
            headers = headers | {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        self.send(handler, status, headers | {"Accept-Ranges": "bytes"}, data[start : end + 1], body)

    @staticmethod
    def send(handler, status: int, headers: dict[str, str], data: bytes = b"", body: bool = True) -> None:
        handler.send_response(status)
        for key, value in {"Content-Type": "application/octet-stream", **headers}.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body and data:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a cancelled download
                handler.wfile.write(data)


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory) -> tuple[GPT2LMHeadModel, dict[str, bytes]]:
    """A tiny GPT-2 made by transformers and its saved files: {"config.json": ..., "model.safetensors": ...}."""
    torch.manual_seed(11)
    model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=32)).eval()
    folder = tmp_path_factory.mktemp("tiny_gpt2")
    model.save_pretrained(folder)
    return model, {name: (folder / name).read_bytes() for name in ("config.json", "model.safetensors")}


@pytest.fixture
def hub_server(tiny_hf):
    servers: list[FakeHub] = []

    def start(files: dict[str, bytes] | None = None, cdn_host: str | None = None, xet: bool = False) -> FakeHub:
        servers.append(FakeHub(dict(tiny_hf[1] if files is None else files), cdn_host, xet))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def online_hub_settings(monkeypatch):
    """Whatever this machine's environment says: online, no HF_ENDPOINT, small chunks."""
    for var in ("HF_ENDPOINT", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def assert_same_logits(hf_model: GPT2LMHeadModel, ours) -> None:
    ids = torch.tensor([[464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf_model(ids).logits, atol=TOLERANCE, rtol=0)


def snapshot_dir(cache: Path) -> Path:
    return cache / ("models--" + REPO.replace("/", "--")) / "snapshots" / COMMIT


def leftovers(cache: Path) -> list[str]:
    """Partial downloads anywhere in the cache."""
    return [str(p.relative_to(cache)) for p in cache.rglob("*") if p.name.endswith(".incomplete")]


# --------------------------------------------------------------------------------------------------
# Downloading for real


def test_download_via_hf_endpoint_matches_transformers_then_loads_offline(tiny_hf, hub_server, tmp_path, monkeypatch):
    hf_model, files = tiny_hf
    server = hub_server()
    monkeypatch.setenv("HF_ENDPOINT", server.url)  # read at call time, not when huggingface_hub was imported
    calls: list[tuple[int, int]] = []

    model = load_pretrained("gpt2", progress=lambda done, total: calls.append((done, total)), cache_dir=tmp_path)

    assert_same_logits(hf_model, model)
    # The requests huggingface_hub made: a HEAD to learn each file's commit, ETag and size, a GET for
    # its bytes (gptcore's own quick HEAD of config.json comes first); nothing else, no /api call.
    resolve = f"/{REPO}/resolve/main/"
    assert server.requests == [
        ("HEAD", resolve + "config.json", None),
        ("HEAD", resolve + "config.json", None),
        ("GET", resolve + "config.json", None),
        ("HEAD", resolve + "model.safetensors", None),
        ("GET", resolve + "model.safetensors", None),
    ]
    # Progress: model.safetensors only, in growing steps, ending at its full size.
    size = len(files["model.safetensors"])
    assert len(calls) == -(-size // CHUNK) > 10
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})
    assert all(total == size for _, total in calls) and calls[-1][0] == size
    # The cache now holds both files, as huggingface_hub lays them out.
    assert find_local("gpt2", cache_dir=tmp_path) == snapshot_dir(tmp_path)
    assert (snapshot_dir(tmp_path) / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert leftovers(tmp_path) == []

    # Second load: from the cache, with the server gone and any network call an error.
    server.stop()
    monkeypatch.setattr(hub, "hf_hub_download", lambda *a, **k: pytest.fail("hf_hub_download was called"))
    monkeypatch.setattr(hub, "get_hf_file_metadata", lambda *a, **k: pytest.fail("the network was used"))
    calls.clear()
    again = load_pretrained("gpt2", progress=lambda done, total: calls.append((done, total)), cache_dir=tmp_path)
    assert calls == []
    assert_same_logits(hf_model, again)


@pytest.mark.parametrize("cdn_host", [None, "localhost"], ids=["direct", "lfs-redirect-to-cdn"])
def test_download_via_explicit_endpoint(tiny_hf, hub_server, tmp_path, monkeypatch, cdn_host):
    hf_model, files = tiny_hf
    server = hub_server(cdn_host=cdn_host)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())  # the explicit endpoint wins over the environment
    calls: list[tuple[int, int]] = []

    folder = download_pretrained(
        "gpt2", progress=lambda done, total: calls.append((done, total)), cache_dir=tmp_path, endpoint=server.url + "/"
    )

    assert folder == snapshot_dir(tmp_path)
    assert calls[-1] == (len(files["model.safetensors"]), len(files["model.safetensors"]))
    if cdn_host:  # the client took the metadata from the 302 and fetched the bytes from the CDN
        assert ("GET", f"/cdn/{FakeHub.etag(files['model.safetensors'], True)}", None) in server.requests
    assert_same_logits(hf_model, load_pretrained("gpt2", cache_dir=tmp_path))


def test_xet_stored_weights_come_over_plain_http(tiny_hf, hub_server, tmp_path):
    """GPT-2's weights are Xet-stored on the Hub and hf_xet is installed, but downloads go over
    plain HTTP (so that progress and cancel see every chunk); the library's setting is restored."""
    server = hub_server(cdn_host="localhost", xet=True)
    xet_setting = huggingface_hub.constants.HF_HUB_DISABLE_XET
    calls: list[tuple[int, int]] = []
    download_pretrained("gpt2", progress=lambda *c: calls.append(c), cache_dir=tmp_path, endpoint=server.url)
    size = len(tiny_hf[1]["model.safetensors"])
    assert calls[-1] == (size, size) and len(calls) > 10
    assert not any("xet" in path for _, path, _ in server.requests)
    # With Xet data in the HEAD answer the client GETs the resolve URL and follows its redirect.
    assert [(m, p) for m, p, _ in server.requests][-2:] == [
        ("GET", f"/{REPO}/resolve/main/model.safetensors"),
        ("GET", f"/cdn/{FakeHub.etag(tiny_hf[1]['model.safetensors'], True)}"),
    ]
    assert xet_setting == huggingface_hub.constants.HF_HUB_DISABLE_XET
    assert_same_logits(tiny_hf[0], load_pretrained("gpt2", cache_dir=tmp_path))


def test_download_of_cached_files_asks_the_server_but_fetches_nothing(tiny_hf, hub_server, tmp_path):
    server = hub_server()
    download_pretrained("gpt2", cache_dir=tmp_path, endpoint=server.url)
    server.requests.clear()
    calls: list[tuple[int, int]] = []
    download_pretrained("gpt2", progress=lambda *c: calls.append(c), cache_dir=tmp_path, endpoint=server.url)
    assert [method for method, _, _ in server.requests] == ["HEAD", "HEAD", "HEAD"]
    assert calls == []


# --------------------------------------------------------------------------------------------------
# When the Hub cannot be reached


def test_server_down_says_which_files_to_fetch_from_where(tmp_path):
    url = closed_port_url()
    started = time.perf_counter()
    with pytest.raises(HubUnavailableError) as caught:
        load_pretrained("gpt2", cache_dir=tmp_path, endpoint=url)
    assert time.perf_counter() - started < 5  # no 20 s of retries with back-off
    message = str(caught.value)
    assert "openai-community/gpt2" in message and url in message
    assert "config.json" in message and "model.safetensors" in message
    assert "https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors" in message
    assert "https://huggingface.co/openai-community/gpt2/resolve/main/config.json" in message
    assert "load_local" in message and str(tmp_path) in message  # where to put them
    assert find_local("gpt2", cache_dir=tmp_path) is None


def test_offline_mode_is_reported_without_a_request(tmp_path, monkeypatch, hub_server):
    server = hub_server()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError, match="offline mode"):
        download_pretrained("gpt2-medium", cache_dir=tmp_path, endpoint=server.url)
    assert server.requests == []


def test_a_repo_the_server_does_not_have_is_unavailable(tiny_hf, hub_server, tmp_path):
    server = hub_server(files={"config.json": tiny_hf[1]["config.json"]})  # no model.safetensors
    with pytest.raises(HubUnavailableError, match=r"model\.safetensors.*404") as caught:
        download_pretrained("gpt2", cache_dir=tmp_path, endpoint=server.url)
    assert "resolve/main/model.safetensors" in str(caught.value)
    with pytest.raises(HubUnavailableError, match="404"):  # gpt2-large is not on this server at all
        download_pretrained("gpt2-large", cache_dir=tmp_path, endpoint=server.url)


# --------------------------------------------------------------------------------------------------
# Damaged or mismatched files


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_download_is_a_clear_error(tiny_hf, hub_server, tmp_path, damage):
    real = tiny_hf[1]["model.safetensors"]
    bad = bytes(range(256)) * 40 if damage == "garbage" else real[: len(real) // 2]
    server = hub_server(files={**tiny_hf[1], "model.safetensors": bad})
    with pytest.raises(ValueError, match=r"model\.safetensors is damaged") as caught:
        load_pretrained("gpt2", cache_dir=tmp_path, endpoint=server.url)
    assert str(snapshot_dir(tmp_path) / "model.safetensors") in str(caught.value)
    assert f"delete the folder {tmp_path / 'models--openai-community--gpt2'} and load it again" in str(caught.value)


def test_a_truncated_local_file_is_a_clear_error(tiny_hf, tmp_path):
    real = tiny_hf[1]["model.safetensors"]
    path = tmp_path / "gpt2-tiny.safetensors"
    path.write_bytes(real[: len(real) // 2])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is damaged"):
        load_local(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="is damaged"):
        load_local(path)


def test_config_and_weights_that_disagree_are_clear_errors(tiny_hf, tmp_path):
    files = tiny_hf[1]
    folder = tmp_path / "wide"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(files["model.safetensors"])
    config = json.loads(files["config.json"])
    (folder / "config.json").write_text(json.dumps({**config, "n_embd": 64}))
    with pytest.raises(ValueError, match=r"cannot load GPT-2 from .*wide.*'wte.weight' has shape \(50257, 32\)"):
        load_local(folder)
    (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "n_layer"}))
    with pytest.raises(ValueError, match=r"config.json has no 'n_layer' entry"):
        load_local(folder)
    (folder / "config.json").write_text(json.dumps({**config, "n_layer": 3}))
    with pytest.raises(ValueError, match=r"no tensor 'h\.2\.ln_1\.weight'"):
        load_local(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json .*not valid JSON"):
        load_local(folder)


def test_mismatched_files_from_the_hub_are_clear_errors(tiny_hf, hub_server, tmp_path):
    config = json.loads(tiny_hf[1]["config.json"])
    server = hub_server(files={**tiny_hf[1], "config.json": json.dumps({**config, "n_embd": 64}).encode()})
    with pytest.raises(ValueError, match=r"'wte.weight' has shape \(50257, 32\).*needs \(50257, 64\)"):
        load_pretrained("gpt2", cache_dir=tmp_path, endpoint=server.url)


# --------------------------------------------------------------------------------------------------
# Cancelling


def test_cancel_from_the_progress_callback_stops_the_download_and_leaves_no_file(tiny_hf, hub_server, tmp_path):
    server = hub_server()
    cancel = threading.Event()
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        cancel.set()  # after the first chunk

    with pytest.raises(DownloadCancelled):
        load_pretrained("gpt2", progress=progress, cache_dir=tmp_path, endpoint=server.url, cancel=cancel)
    assert len(calls) == 1 and calls[0][0] == CHUNK
    assert not (snapshot_dir(tmp_path) / "model.safetensors").exists()
    blobs = tmp_path / "models--openai-community--gpt2" / "blobs"
    assert [p.name for p in blobs.iterdir()] == [FakeHub.etag(tiny_hf[1]["config.json"], False)]  # config.json only
    assert leftovers(tmp_path) == []
    assert find_local("gpt2", cache_dir=tmp_path) is None

    # Nothing is poisoned: the next try downloads and loads.
    assert_same_logits(tiny_hf[0], load_pretrained("gpt2", cache_dir=tmp_path, endpoint=server.url))


def test_cancel_set_from_another_thread(tiny_hf, hub_server, tmp_path):
    server = hub_server()
    cancel = threading.Event()
    first_chunk = threading.Event()
    outcome: list[BaseException | None] = []

    def slow_progress(done: int, total: int) -> None:
        first_chunk.set()
        time.sleep(0.01)

    def run() -> None:
        try:
            download_pretrained("gpt2", progress=slow_progress, cache_dir=tmp_path, endpoint=server.url, cancel=cancel)
            outcome.append(None)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    assert first_chunk.wait(10)
    cancel.set()
    worker.join(10)
    assert isinstance(outcome[0], DownloadCancelled)
    assert not (snapshot_dir(tmp_path) / "model.safetensors").exists() and leftovers(tmp_path) == []


def test_cancel_before_start_makes_no_request(hub_server, tmp_path):
    server = hub_server()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled):
        download_pretrained("gpt2", cache_dir=tmp_path, endpoint=server.url, cancel=cancel)
    assert server.requests == []


# --------------------------------------------------------------------------------------------------
# The local cache


def test_find_local_needs_both_files(tiny_hf, tmp_path):
    assert find_local("gpt2", cache_dir=tmp_path) is None
    snapshot = fake_hub_cache(tmp_path, tiny_hf[0], REPO)
    assert find_local("gpt2", cache_dir=tmp_path) == snapshot
    assert find_local("gpt2-xl", cache_dir=tmp_path) is None
    (snapshot / "config.json").unlink()
    assert find_local("gpt2", cache_dir=tmp_path) is None


def test_a_cached_model_loads_with_no_endpoint_at_all(tiny_hf, tmp_path, monkeypatch):
    fake_hub_cache(tmp_path, tiny_hf[0], REPO)
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    assert_same_logits(tiny_hf[0], load_pretrained("gpt2", cache_dir=tmp_path))


@pytest.mark.parametrize("function", [load_pretrained, download_pretrained, find_local])
def test_unknown_names_list_the_valid_ones(function, tmp_path):
    with pytest.raises(ValueError, match="gpt2, gpt2-medium, gpt2-large, gpt2-xl") as caught:
        function("gpt3", cache_dir=tmp_path)
    assert "'gpt3'" in str(caught.value)


# --------------------------------------------------------------------------------------------------
# Local files


def test_load_local_bare_file_infers_the_config(tiny_hf, tmp_path):
    path = tmp_path / "weights" / "my-gpt2.safetensors"  # any name, no config.json beside it
    path.parent.mkdir()
    path.write_bytes(tiny_hf[1]["model.safetensors"])
    model = load_local(path)
    assert model.cfg == GPTConfig(
        vocab_size=50257, context_length=32, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0, qkv_bias=True
    )
    assert_same_logits(tiny_hf[0], model)
    assert list(path.parent.iterdir()) == [path]  # nothing written beside it


def test_load_local_bare_file_uses_config_json_beside_it(tiny_hf, tmp_path):
    (tmp_path / "my-gpt2.safetensors").write_bytes(tiny_hf[1]["model.safetensors"])
    (tmp_path / "config.json").write_bytes(tiny_hf[1]["config.json"])
    assert_same_logits(tiny_hf[0], load_local(tmp_path / "my-gpt2.safetensors"))


def test_load_local_with_a_config_that_does_not_match(tiny_hf, tmp_path):
    (tmp_path / "my-gpt2.safetensors").write_bytes(tiny_hf[1]["model.safetensors"])
    (tmp_path / "config.json").write_text(json.dumps({**json.loads(tiny_hf[1]["config.json"]), "n_embd": 64}))
    with pytest.raises(ValueError, match=r"cannot load GPT-2 from .*my-gpt2\.safetensors: .*'wte.weight' has shape"):
        load_local(tmp_path / "my-gpt2.safetensors")


def test_load_local_folder_and_its_model_file(tiny_hf, tmp_path):
    for name, data in tiny_hf[1].items():
        (tmp_path / name).write_bytes(data)
    assert_same_logits(tiny_hf[0], load_local(tmp_path))
    assert_same_logits(tiny_hf[0], load_local(str(tmp_path / "model.safetensors")))


def test_load_local_errors(tiny_hf, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_local(tmp_path / "nowhere.safetensors")
    with pytest.raises(ValueError, match=r"has no model\.safetensors"):
        load_local(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match=r"not a \.safetensors file"):
        load_local(tmp_path / "pytorch_model.bin")

    # A width no GPT-2 size has, and no config.json: it asks for one.
    torch.manual_seed(0)
    odd = GPT2LMHeadModel(GPT2Config(vocab_size=100, n_embd=24, n_layer=1, n_head=3, n_positions=8))
    odd.save_pretrained(tmp_path / "odd")
    (tmp_path / "odd" / "config.json").rename(tmp_path / "odd" / "saved-config.json")
    with pytest.raises(ValueError, match=r"attention heads the 24-wide GPT-2 .* put its config\.json"):
        load_local(tmp_path / "odd")
    shutil.copy(tmp_path / "odd" / "saved-config.json", tmp_path / "odd" / "config.json")
    assert load_local(tmp_path / "odd").cfg.n_heads == 3

    # Not GPT-2 at all.
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(3, 3)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match=r"does not look like GPT-2 weights.*'wte.weight'"):
        load_local(tmp_path / "other.safetensors")


# --------------------------------------------------------------------------------------------------
# The four sizes


def test_pretrained_table():
    assert list(PRETRAINED) == list(PRETRAINED_REPOS) == ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"]
    assert [info.label for info in PRETRAINED.values()] == ["124M", "355M", "774M", "1558M"]
    for name, info in PRETRAINED.items():
        assert info.repo_id == PRETRAINED_REPOS[name] == f"openai-community/{name}"
        assert info.url() == f"https://huggingface.co/openai-community/{name}/resolve/main/model.safetensors"
        report = size_report(PRESETS[info.preset])
        assert info.parameters == report.parameters_tied
        cfg = PRESETS[info.preset]
        assert info.ram_bytes == 4 * (report.parameters + cfg.vocab_size * cfg.emb_dim)
        assert info.ram_bytes > info.download_bytes
    small = PRETRAINED["gpt2"]
    assert small.parameters == 124_439_808 and small.download_bytes == 548_105_171 and small.download_bytes_exact
    assert small.describe() == "gpt2 (124M): 548 MB download, about 807 MB of memory to load"
    medium = PRETRAINED["gpt2-medium"]
    # parameters plus one 1024 x 1024 float32 mask buffer per layer: 18 kB short of the real file's 1,519,974,088
    assert not medium.download_bytes_exact and medium.download_bytes == 4 * (354_823_168 + 24 * 1024 * 1024)
    estimate_for_small = PretrainedInfo("gpt2", small.repo_id, "124M", "gpt2-small").download_bytes
    assert abs(estimate_for_small - 548_105_171) / 548_105_171 < 1e-4
    assert medium.describe().startswith("gpt2-medium (355M): about 1.52 GB download")
    assert PRETRAINED["gpt2-xl"].ram_bytes == 4 * (1_638_022_400 + 50257 * 1600)
