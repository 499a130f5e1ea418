"""Take a screenshot of every page of the running app in headless Chromium (Debian's package).

Starts `streamlit run app.py` on a free loopback port, opens each page with Playwright, waits
until Streamlit has finished running the script, and saves docs/screenshots/<page>.png.

    .venv/bin/python docs/screenshots.py [--model book-124m-seed123] [--prompt "..."]
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.appserver import PAGES, ROOT, chromium, running_app, wait_until_rendered

OUT_DIR = ROOT / "docs" / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="book-124m-seed123")
    parser.add_argument("--prompt", default="Every effort moves you")
    parser.add_argument("--pages", nargs="*", default=PAGES, help="url paths; '' is the start page")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    query = urllib.parse.urlencode({"prompt": args.prompt, "model": args.model})
    with running_app() as url, chromium(viewport={"width": 1400, "height": 3000}) as browser:
        page = browser.new_page()
        for path in args.pages:
            page.goto(f"{url}/{path}?{query}")
            wait_until_rendered(page)
            if path == "generate":  # show the model writing, not just the controls
                page.get_by_role("button", name="Generate").click()
                wait_until_rendered(page)
            if path == "train":  # a run under way: curves, progress and a sample
                text = "The old miller carried a basket of apples to the market in the morning. " * 60
                page.get_by_role("textbox", name="Paste a text").fill(text)
                page.keyboard.press("Control+Enter")
                wait_until_rendered(page, scroll=False)
                page.get_by_role("button", name="Start training").click()
                page.wait_for_timeout(30_000)
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


if __name__ == "__main__":
    main()
