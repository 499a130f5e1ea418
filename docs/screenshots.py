"""Take a screenshot of every page of the running app in headless Chromium (Debian's package).

Starts `streamlit run app.py` on a free loopback port, opens each page with Playwright, waits
until Streamlit has finished running the script, and saves docs/screenshots/<page>.png.

    .venv/bin/python docs/screenshots.py [--model book-124m-seed123] [--prompt "..."]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
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
PAGES = ["", "architecture", "tokens", "attention", "layernorm", "feedforward", "residual", "generate"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout:.0f} s")


def start_server(port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true"]
    command += [f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until_rendered(page, timeout_s: float = 180.0) -> None:
    """Wait until the script run has ended and every placeholder has been filled, twice in a row."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_s * 1000)
    # The app element says whether the script is running; placeholders and spinners mean output is still due.
    busy = "[data-test-script-state='running'], [data-testid='stSkeleton'], [data-testid='stSpinner']"
    deadline = time.monotonic() + timeout_s
    quiet_checks = 0
    while quiet_checks < 2:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{page.url} was still rendering after {timeout_s:.0f} s")
        page.wait_for_timeout(1000)
        quiet_checks = 0 if page.locator(busy).count() else quiet_checks + 1
    # Charts and tables draw lazily once scrolled into view: visit the whole page, then go back up.
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    for y in range(0, height, 600):
        page.evaluate(f"document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, {y})")
        page.wait_for_timeout(300)
    page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    page.wait_for_timeout(1500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="book-124m-seed123")
    parser.add_argument("--prompt", default="Every effort moves you")
    parser.add_argument("--pages", nargs="*", default=PAGES, help="url paths; '' is the start page")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_server(port)
    try:
        wait_for_health(port)
        query = urllib.parse.urlencode({"prompt": args.prompt, "model": args.model})
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 3000}
            )
            page = browser.new_page()
            for path in args.pages:
                page.goto(f"http://127.0.0.1:{port}/{path}?{query}")
                wait_until_rendered(page)
                if path == "generate":  # show the model writing, not just the controls
                    page.get_by_role("button", name="Generate").click()
                    wait_until_rendered(page)
                if page.locator("[data-testid='stException']").count():
                    raise RuntimeError(f"page /{path} shows an exception")
                target = OUT_DIR / f"{path or 'home'}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"saved {target.relative_to(ROOT)}")
                if path == "":  # the model picker, opened
                    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
                    page.wait_for_timeout(1000)
                    target = OUT_DIR / "model-picker.png"
                    page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 900, "height": 700})
                    print(f"saved {target.relative_to(ROOT)}")
                    page.keyboard.press("Escape")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
