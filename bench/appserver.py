"""Start the real app on loopback and drive it in Debian's Chromium: shared by the browser tests,
the classroom load test and the screenshot script.

    with running_app() as url, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{url}/attention?prompt=Hello")
        wait_until_rendered(page)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ui.frame import URL_PATHS

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own browser download is never used
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# url path of every page ('' is the start page), in the sidebar's order
PAGES = URL_PATHS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(port: int, timeout: float = 90.0, server: subprocess.Popen | None = None) -> None:
    """Block until Streamlit answers /_stcore/health; fail early if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode} before it became healthy")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout:.0f} s")


def start_app(port: int, env: dict[str, str] | None = None, log_path: Path | None = None) -> subprocess.Popen:
    """`streamlit run app.py` headless on 127.0.0.1:port, with this interpreter; not waited for."""
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true"]
    command += [f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false"]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)


@contextmanager
def running_app(env: dict[str, str] | None = None, log_path: Path | None = None) -> Iterator[str]:
    """A healthy app server for the duration of the block; yields its base URL."""
    with running_server(env, log_path) as (url, _server):
        yield url


@contextmanager
def running_server(
    env: dict[str, str] | None = None, log_path: Path | None = None, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """running_app, also yielding the server process (its pid for memory figures) and taking a port."""
    port = port or free_port()
    server = start_app(port, env, log_path)
    try:
        wait_for_health(port, server=server)
        yield f"http://127.0.0.1:{port}", server
    finally:
        stop(server)


@contextmanager
def running_behind_nginx(
    workdir: Path, env: dict[str, str] | None = None, apps: int = 2
) -> Iterator[tuple[str, set[str]]]:
    """``apps`` app processes behind Debian's nginx with deploy/nginx.conf (rendered into ``workdir``
    for free loopback ports); yields (nginx's URL, the apps' addresses as X-Upstream names them)."""
    from deploy import nginx_conf

    app_ports = [free_port() for _ in range(apps)]
    servers = [start_app(port, env) for port in app_ports]
    listen_port = free_port()
    nginx_conf.write(app_ports, f"127.0.0.1:{listen_port}", workdir)
    nginx = subprocess.Popen(nginx_conf.command(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for server, port in zip(servers, app_ports, strict=True):
            wait_for_health(port, server=server)
        url = f"http://127.0.0.1:{listen_port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).close()
                break
            except OSError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {nginx.stdout.read().decode()}") from None
                time.sleep(0.2)
        yield url, {f"127.0.0.1:{port}" for port in app_ports}
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for server in servers:
            stop(server)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def resident_bytes(pid: int) -> int:
    """A process's resident memory now (VmRSS in /proc/<pid>/status), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    raise RuntimeError(f"no VmRSS line for process {pid}")


@contextmanager
def chromium(viewport: dict[str, int] | None = None, extra_flags: Sequence[str] = ()) -> Iterator:
    """A headless Chromium context in a throwaway profile (launch_persistent_context, Debian's binary)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=[*CHROMIUM_FLAGS, *extra_flags],
            viewport=viewport or {"width": 1400, "height": 1600},
        )
        try:
            yield context
        finally:
            context.close()


def wait_until_rendered(page, timeout_s: float = 180.0, scroll: bool = True) -> None:
    """Wait until the script run has ended and every placeholder has been filled, twice in a row."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_s * 1000)
    # The app element says whether the script is running; placeholders and spinners mean output is still due.
    busy = "[data-test-script-state='running'], [data-testid='stSkeleton'], [data-testid='stSpinner']"
    deadline = time.monotonic() + timeout_s
    quiet_checks = 0
    while quiet_checks < 2:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{page.url} was still rendering after {timeout_s:.0f} s")
        page.wait_for_timeout(500)
        quiet_checks = 0 if page.locator(busy).count() else quiet_checks + 1
    if not scroll:
        return
    # Charts and tables draw lazily once scrolled into view: visit the whole page, then go back up.
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    for y in range(0, height, 600):
        page.evaluate(f"document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, {y})")
        page.wait_for_timeout(200)
    page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    page.wait_for_timeout(500)
