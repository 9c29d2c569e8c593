"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests.

Playwright's sync API runs an event loop in the thread that uses it, and Django refuses database calls from a
thread with a running loop; so the browser lives in a thread of its own and the test hands it work.
"""

import queue
import shutil
import threading
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: The marks of a module of browser tests: `pytestmark = BROWSER_TESTS`.
BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium)"),
]

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BrowserThread:
    """One Chromium page owned by a dedicated thread; `run(fn)` calls fn(page) there and returns its result."""

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._main, name="browser", daemon=True)
        self._ready = queue.Queue()
        self._thread.start()
        error = self._ready.get(timeout=60)
        if error is not None:
            raise error

    def _main(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
        except Exception as exc:
            self._ready.put(exc)
            return
        self._ready.put(None)
        while (job := self._jobs.get()) is not None:
            fn, reply = job
            try:
                reply.put((True, fn(page)))
            except Exception as exc:
                reply.put((False, exc))
        browser.close()
        playwright.stop()

    def run(self, fn: Callable, timeout: float = 60):
        reply: queue.Queue = queue.Queue()
        self._jobs.put((fn, reply))
        ok, value = reply.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(30)


def screenshot(page, name: str) -> None:
    screens = settings.MILLWRIGHT_STATE_DIR / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screens / name))


def login(page, url: str, username: str) -> None:
    """Open `url`, which sends a signed-out browser to the login page, and sign in as `username` (make_user's
    password pw-<name>-1); the browser lands back on `url`."""
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}-1")
    page.click("button[type=submit]")
    page.wait_for_url(url)


@pytest.fixture
def browser() -> Iterator["BrowserThread"]:
    """A Chromium page in a thread of its own, closed after the test (registered by tests/conftest.py)."""
    thread = BrowserThread()
    yield thread
    thread.close()
