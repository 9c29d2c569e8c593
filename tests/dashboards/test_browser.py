"""A real browser: headless Chromium (Debian's package) driven by Playwright against the live ASGI server.

Playwright's sync API runs an event loop in the thread that uses it, and Django refuses database calls from a
thread with a running loop; so the browser lives in a thread of its own and the test hands it work.
"""

import queue
import shutil
import threading
from collections.abc import Callable

import pytest
from django.conf import settings

from ingest.services.poll import device_poll

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
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


@pytest.fixture
def browser():
    thread = BrowserThread()
    yield thread
    thread.close()


def _points(page) -> int:
    return int(page.get_attribute("#trend", "data-points") or 0)


def _login(page, url: str) -> None:
    page.goto(url)
    assert "/login/" in page.url
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pw-operator-1")
    page.click("button[type=submit]")


def _screenshot(page, name: str) -> None:
    screens = settings.MILLWRIGHT_STATE_DIR / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screens / name))


def test_operator_logs_in_and_watches_the_trend_grow(
    live_asgi, device, scan_class, machine, django_user_model, browser
):
    django_user_model.objects.create_user("operator", password="pw-operator-1")
    device_poll(device_id=device.pk, scan_class_id=scan_class.pk)  # history to draw on load

    def open_machine_page(page) -> int:
        _login(page, f"{live_asgi.url}/machines/{machine.pk}/")
        page.wait_for_url(f"**/machines/{machine.pk}/")
        page.wait_for_selector("#link-status[data-state=live]", timeout=10_000)
        page.wait_for_function("Number(document.querySelector('#trend').dataset.points) > 0", timeout=10_000)
        assert page.locator("#trend .main-svg").count() > 0
        return _points(page)

    before = browser.run(open_machine_page)

    device_poll(device_id=device.pk, scan_class_id=scan_class.pk)

    def wait_for_growth(page) -> tuple[int, str]:
        page.wait_for_function(f"Number(document.querySelector('#trend').dataset.points) > {before}", timeout=10_000)
        _screenshot(page, "machine.png")
        return _points(page), page.locator(f'[data-state-for="{machine.pk}"]').inner_text()

    after, state = browser.run(wait_for_growth)
    assert after > before
    assert state in {"Idle", "Running", "Down"}


def test_plant_overview_shows_live_values(live_asgi, device, scan_class, django_user_model, browser):
    django_user_model.objects.create_user("operator", password="pw-operator-1")

    def open_overview(page) -> int:
        _login(page, f"{live_asgi.url}/")
        page.wait_for_selector("#link-status[data-state=live]", timeout=10_000)
        return page.locator(".card").count()

    assert browser.run(open_overview) == 2

    device_poll(device_id=device.pk, scan_class_id=scan_class.pk)

    def wait_for_values(page) -> None:
        page.wait_for_function(
            "[...document.querySelectorAll('.card .num')].some((el) => el.textContent.trim() !== '\\u2013')",
            timeout=10_000,
        )
        _screenshot(page, "overview.png")

    browser.run(wait_for_values)
