"""The page's one WebSocket (static/js/lib/socket.js) in headless Chromium against a real uvicorn server."""

import itertools
import time

import pytest

from tests.browser import BROWSER_TESTS, login
from tests.conftest import LiveAsgiServer
from tests.waiting import wait_until

pytestmark = BROWSER_TESTS


class AcceptThenClose:
    """Millwright over HTTP, but every WebSocket is accepted then closed at once, as when Redis is away."""

    def __init__(self) -> None:
        from config.asgi import application

        self.http = application
        self.attempts: list[float] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            await self.http(scope, receive, send)
            return
        self.attempts.append(time.monotonic())
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1011})


@pytest.fixture
def flapping_server(transactional_db):
    app = AcceptThenClose()
    server = LiveAsgiServer(app).start()
    server.app = app
    yield server
    server.stop()


def test_a_page_opens_one_websocket_for_live_values_and_alarms(
    polling, live_asgi, device, scan_class, machine, make_user, browser
):
    """The machine page shows live values and the alarm banner: both over /ws/page/, no second socket."""
    from ingest.acquisition.poll import device_poll

    make_user("operator")
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    def open_machine_page(page) -> list[str]:
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        login(page, f"{live_asgi.url}/machines/{machine.pk}/", "operator")
        page.wait_for_selector("#link-status[data-state=live]", timeout=10_000)
        page.wait_for_selector("#alarm-banner[data-unacknowledged]", timeout=10_000)  # the alarm stream's counts
        page.wait_for_function("() => Number(document.querySelector('#trend').dataset.points) > 0", timeout=10_000)
        return sockets

    assert browser.run(open_machine_page) == [f"ws://127.0.0.1:{live_asgi.port}/ws/page/"]


def test_a_server_that_accepts_then_closes_is_not_flooded_with_reconnections(
    flapping_server, demo_plant, make_user, browser
):
    """The backoff resets only once a socket has stayed up: opening alone proves nothing (issue 11.8: 41 attempts
    in 32 s). Counted at the server over 12 s from the first attempt: 1, 2, 4, 8 s (jittered 50-100 %) allow at
    most 5 attempts; a backoff reset on every open makes one every 0.5-1 s."""
    make_user("operator")
    window = 12.0

    def open_overview(page) -> None:
        login(page, f"{flapping_server.url}/", "operator")

    browser.run(open_overview)
    attempts = flapping_server.app.attempts
    wait_until(lambda: attempts, timeout=10, what="the page's first WebSocket attempt")
    time.sleep(max(0.0, attempts[0] + window - time.monotonic()))  # the observation window itself
    seen = [t for t in attempts if t - attempts[0] <= window]
    gaps = [b - a for a, b in itertools.pairwise(seen)]

    assert len(seen) <= 6, f"{len(seen)} connection attempts in {window:g} s, gaps {[round(g, 2) for g in gaps]}"
    assert gaps[-1] >= 2 * gaps[0], f"no backoff: gaps {[round(g, 2) for g in gaps]}"


def test_a_page_whose_session_is_signed_out_elsewhere_goes_to_the_login_page(live_asgi, demo_plant, make_user, browser):
    """Signed out in another tab (the real logout view, same session): the open page's socket is closed with 4401
    and the page goes to the login page instead of streaming on (issue 12.4)."""
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    make_user("operator")

    def open_overview(page) -> str:
        login(page, f"{live_asgi.url}/", "operator")
        page.wait_for_selector("#link-status[data-state=live]", timeout=10_000)
        return next(c["value"] for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)

    other_tab = Client()
    other_tab.cookies[settings.SESSION_COOKIE_NAME] = browser.run(open_overview)
    assert other_tab.post(reverse("logout")).status_code == 302

    def lands_on_login(page) -> str:
        page.wait_for_url("**/login/**", timeout=10_000)
        return page.url

    assert "/login/" in browser.run(lands_on_login)
