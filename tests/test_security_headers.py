"""Security headers on every page (issue 12.7): a Content-Security-Policy that allows no inline script, frames
denied, no MIME sniffing, a referrer policy; no page renders an inline script; pages work under the policy in
Chromium with no violation reported."""

import base64
import hashlib
from html.parser import HTMLParser

import pytest
from django.test import Client

from tests.browser import CHROMIUM, BrowserThread, login

PAGES = [
    "/",
    "/machines/{machine}/",
    "/explorer/",
    "/alarms/",
    "/alarms/history/",
    "/alarms/performance/",
    "/tokens/",
    "/admin/",
    "/admin/historian/tag/",
    "/inventory/",
    "/api/docs/",
    "/api/redoc/",
]


@pytest.fixture
def admin_client(django_user_model, demo_plant) -> Client:
    django_user_model.objects.create_superuser("admin", password="pw-admin-1")
    client = Client()
    client.force_login(django_user_model.objects.get(username="admin"))
    return client


def _pages(machine) -> list[str]:
    return [page.format(machine=machine.pk) for page in PAGES]


def _directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "script":
            self._open = dict(attrs)

    def handle_data(self, data) -> None:
        # json_script's data blocks (type application/json) are not run: a browser runs only JavaScript types
        opened = self._open
        if opened is not None and "src" not in opened and data.strip() and opened.get("type") != "application/json":
            self.inline.append(data.strip()[:80])

    def handle_endtag(self, tag) -> None:
        if tag == "script":
            self._open = None


class _Handlers(HTMLParser):
    """Event-handler attributes (onclick=...) and javascript: URLs are inline script too."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.found += [f"<{tag} {name}>" for name, _ in attrs if name.startswith("on")]
        self.found += [f"<{tag} {name}>" for name, value in attrs if value and value.startswith("javascript:")]


def test_every_page_sends_the_security_headers(admin_client, machine):
    pages = ["/login/", *_pages(machine)]
    for url in pages:
        response = (Client() if url == "/login/" else admin_client).get(url)
        assert response.status_code == 200, url
        csp = _directives(response)
        assert csp["script-src"][0] == "'self'", url
        assert "'unsafe-inline'" not in csp["script-src"], url
        assert csp["frame-ancestors"] == ["'none'"], url
        assert csp["object-src"] == ["'none'"], url
        assert response.headers["X-Frame-Options"] == "DENY", url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Referrer-Policy"] == "same-origin", url


def test_only_the_pages_that_draw_plots_may_evaluate_code(admin_client, machine):
    """Plotly's WebGL traces compile code at run time ('unsafe-eval'); every other page is refused it."""
    plots = {f"/machines/{machine.pk}/", "/explorer/"}
    for url in _pages(machine):
        allowed = "'unsafe-eval'" in _directives(admin_client.get(url))["script-src"]
        assert allowed == (url in plots), url


def test_no_page_renders_an_inline_script(admin_client, machine):
    for url in ["/login/", *_pages(machine)]:
        html = (Client() if url == "/login/" else admin_client).get(url).content.decode()
        scripts, handlers = _Scripts(), _Handlers()
        scripts.feed(html)
        handlers.feed(html)
        assert not scripts.inline, f"{url}: inline script {scripts.inline}"
        assert not handlers.found, f"{url}: inline event handlers {handlers.found}"


# An inline script the policy refuses, injected last on each page: Chromium names its hash in the violation it
# reports, so the test can wait for that report and tell it from the page's own.
CANARY = "/* millwright csp canary */"
CANARY_HASH = base64.b64encode(hashlib.sha256(CANARY.encode()).digest()).decode()
CANARY_INJECT = (
    "(text) => { const s = document.createElement('script'); s.textContent = text; document.head.append(s); }"
)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_pages_load_in_chromium_with_no_content_security_policy_violation(
    polling, live_asgi, device, scan_class, machine, django_user_model
):
    from ingest.acquisition.poll import device_poll

    django_user_model.objects.create_superuser("admin", password="pw-admin-1")
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    browser = BrowserThread()

    def visit_all(page) -> list[str]:
        problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                problems.append(f"{page.url}: {m.text}")
                if "Content Security Policy" in m.text and CANARY_HASH not in m.text
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
        login(page, f"{live_asgi.url}/", "admin")
        page.wait_for_selector("#link-status[data-state=live]", timeout=15_000)
        for url in _pages(machine):
            page.goto(f"{live_asgi.url}{url}")
            page.wait_for_load_state("load")
            if url.startswith("/machines/"):
                page.wait_for_function(
                    "() => Number(document.getElementById('trend').dataset.points) > 0", timeout=20_000
                )
            # Violations are reported asynchronously: once the canary's is in, those raised before it are too.
            with page.expect_console_message(lambda m: CANARY_HASH in m.text, timeout=10_000):
                page.evaluate(CANARY_INJECT, CANARY)
        return problems

    try:
        problems = browser.run(visit_all, timeout=180)
    finally:
        browser.close()
    assert not problems, "\n".join(problems)
