"""The README's pictures, taken from the running demo (`make demo`) with Chromium, so that they stay current.

    python -m devtools.screenshots [--url http://127.0.0.1:8000/] [--username admin] [--password ...]

Signs in (the demo's administrator: MILLWRIGHT_DEMO_USER / MILLWRIGHT_DEMO_PASSWORD, else the password the demo
kept in .millwright/demo/admin-password), opens the overview, a machine page, the alarm list, the trend explorer
with two pens, the line's OEE view, the machine's state timeline, the plant health overview and the wearing
machine's health page at 1280 x 800, and writes them as palette PNGs
(small enough to commit) to docs/screenshots/. Needs Playwright and a Chromium (Debian: apt-get install chromium).
"""

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
SIZE = {"width": 1280, "height": 800}
SETTLE_MS = 2500  # live values and charts arrive over the page's socket after the load


def _password(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("MILLWRIGHT_DEMO_PASSWORD"):
        return os.environ["MILLWRIGHT_DEMO_PASSWORD"]
    kept = ROOT / ".millwright" / "demo" / "admin-password"
    if kept.exists():
        return kept.read_text().strip()
    sys.exit("no password: pass --password, set MILLWRIGHT_DEMO_PASSWORD, or run `make demo` once")


def _optimised(path: Path) -> None:
    """256 colours and zlib's best: a 1280 x 800 page of flat panels falls from ~300 kB to ~60 kB."""
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def _shots(base: str) -> list[tuple[str, Callable[[Page], None]]]:
    """(file name, how to open the page) in the README's order; each step starts from the overview."""

    def overview(page: Page) -> None:
        page.goto(base)

    def machine(page: Page) -> None:
        page.goto(urljoin(base, page.get_attribute(".card[data-machine] a.machine-name", "href") or "/"))

    def alarms(page: Page) -> None:
        page.goto(urljoin(base, "/alarms/"))
        page.wait_for_selector("#alarm-table[data-ready=true]")

    def explorer(page: Page) -> None:
        page.goto(urljoin(base, "/explorer/"))
        for tag in ("CNC 101.motor_temperature", "CNC 101.spindle_speed"):
            page.fill("#tag-search", tag)
            page.click(f'#search-results button[aria-label$="{tag}"]')
            page.wait_for_selector(f'#pens li button[aria-label$="{tag}"]')
        page.click('[data-range="900"]')

    def oee(page: Page) -> None:
        page.goto(urljoin(base, page.get_attribute("a.line-downtime[href$='/oee/']", "href") or "/"))

    def timeline(page: Page) -> None:
        machine_id = page.get_attribute(".card[data-machine]", "data-machine")
        page.goto(urljoin(base, f"/production/machines/{machine_id}/timeline/"))

    def health(page: Page) -> None:
        page.goto(urljoin(base, "/maintenance/"))

    def machine_health(page: Page) -> None:
        # The demo's wearing machine (demo.simulator.wear.DEMO_WEAR: CNC 102's bearing), else the first one.
        page.goto(urljoin(base, "/maintenance/"))
        wearing = page.locator("a.touch-link", has_text="CNC 102")
        link = wearing if wearing.count() else page.locator("td a.touch-link").first
        page.goto(urljoin(base, link.get_attribute("href") or "/maintenance/"))

    return [
        ("overview.png", overview),
        ("machine.png", machine),
        ("alarms.png", alarms),
        ("explorer.png", explorer),
        ("oee.png", oee),
        ("timeline.png", timeline),
        ("health.png", health),
        ("machine_health.png", machine_health),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("MILLWRIGHT_URL", "http://127.0.0.1:8000/"))
    parser.add_argument("--username", default=os.environ.get("MILLWRIGHT_DEMO_USER", "admin"))
    parser.add_argument("--password")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--theme", choices=["dark", "light"], default="dark")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium installed (Debian: apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.url if args.url.endswith("/") else args.url + "/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--headless=new", "--no-sandbox"])
        page = browser.new_page(viewport=SIZE)  # type: ignore[arg-type]  # a dict with width and height
        page.goto(urljoin(base, "/login/"))
        page.fill("#id_username", args.username)
        page.fill("#id_password", _password(args.password))
        page.click("button[type=submit]")
        page.wait_for_url(base)
        if page.get_attribute("html", "data-theme") != args.theme:
            page.click("#theme-switch")
        for name, open_page in _shots(base):
            page.goto(base)
            open_page(page)
            page.wait_for_load_state("load")
            page.wait_for_timeout(SETTLE_MS)
            path = args.out / name
            page.screenshot(path=str(path))
            _optimised(path)
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} kB")
        browser.close()


if __name__ == "__main__":
    main()
