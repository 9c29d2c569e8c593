"""A real browser: headless Chromium (Debian's package) driven by Playwright against the live ASGI server.

Playwright's sync API runs an event loop in the thread that uses it, and Django refuses database calls from a
thread with a running loop; so the browser lives in a thread of its own and the test hands it work.
"""

from demo.simulator.plant import STATE_LABELS
from ingest.acquisition.poll import device_poll
from tests.browser import BROWSER_TESTS, screenshot

pytestmark = BROWSER_TESTS


def _points(page) -> int:
    return int(page.get_attribute("#trend", "data-points") or 0)


def _login(page, url: str) -> None:
    page.goto(url)
    assert "/login/" in page.url
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pw-operator-1")
    page.click("button[type=submit]")


def test_operator_logs_in_and_watches_the_trend_grow(
    polling, live_asgi, device, scan_class, machine, make_user, browser
):
    make_user("operator")
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)  # history to draw on load

    def open_machine_page(page) -> int:
        _login(page, f"{live_asgi.url}/machines/{machine.pk}/")
        page.wait_for_url(f"**/machines/{machine.pk}/")
        page.wait_for_selector("#link-status[data-state=live]", timeout=10_000)
        page.wait_for_function("() => Number(document.querySelector('#trend').dataset.points) > 0", timeout=10_000)
        assert page.locator("#trend .main-svg").count() > 0
        return _points(page)

    before = browser.run(open_machine_page)

    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    def wait_for_growth(page) -> tuple[int, str]:
        page.wait_for_function(
            f"() => Number(document.querySelector('#trend').dataset.points) > {before}", timeout=10_000
        )
        screenshot(page, "machine.png")
        return _points(page), page.locator(f'[data-state-for="{machine.pk}"]').inner_text()

    after, state = browser.run(wait_for_growth)
    assert after > before
    assert state in set(STATE_LABELS.values())


def test_plant_overview_shows_live_values(polling, live_asgi, device, scan_class, make_user, browser):
    make_user("operator")

    def open_overview(page) -> int:
        _login(page, f"{live_asgi.url}/")
        page.wait_for_selector("#link-status[data-state=live]", timeout=10_000)
        return page.locator(".card").count()

    assert browser.run(open_overview) == 2

    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    def wait_for_values(page) -> None:
        page.wait_for_function(
            "() => [...document.querySelectorAll('.card .num')].some((el) => el.textContent.trim() !== '\\u2013')",
            timeout=10_000,
        )
        screenshot(page, "overview.png")

    browser.run(wait_for_values)


def test_the_machine_page_names_a_gap_left_by_a_dead_worker(
    ingest_context, live_asgi, device, machine, make_user, browser
):
    """The marker a worker stores when it takes over a dead worker's device reads as such, not as a bare "bad"."""
    from django.utils import timezone

    from historian.models import Tag
    from ingest.pipeline.store import device_acquisition_down_store

    make_user("operator")
    tags = {tag.pk: tag for tag in Tag.objects.filter(device=device, machine=machine)}
    device_acquisition_down_store(context=ingest_context, tags=tags, at=timezone.now())

    def quality_texts(page) -> list[str]:
        _login(page, f"{live_asgi.url}/machines/{machine.pk}/")
        page.wait_for_url(f"**/machines/{machine.pk}/")
        page.wait_for_function(
            "[...document.querySelectorAll('.quality')].some((e) => e.textContent.includes('acquisition'))",
            timeout=10_000,
        )
        return page.locator(".quality").all_inner_texts()

    texts = browser.run(quality_texts)
    assert "bad: no data: acquisition down" in texts


def test_a_quarantined_devices_values_are_shown_marked_not_hidden(
    polling, live_asgi, device, scan_class, machine, make_user, browser
):
    """Quarantine keeps the operators' view of the process: values read stay on the page, marked uncertain."""
    from ingest.services.quarantine import device_quarantine_set

    make_user("operator")
    device_quarantine_set(device=device, quarantined=True, reason="firmware under investigation", user=None)
    device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)

    def rows(page) -> list[tuple[str, str, str]]:
        _login(page, f"{live_asgi.url}/machines/{machine.pk}/")
        page.wait_for_url(f"**/machines/{machine.pk}/")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.quality')].some((e) => e.textContent.includes('quarantined'))",
            timeout=10_000,
        )
        assert "firmware under investigation" in page.inner_text("#quarantine-banner")
        return page.eval_on_selector_all(
            "tr[data-tag]",
            "(rows) => rows.map((r) => [r.className, r.querySelector('.num').textContent,"
            " r.querySelector('.quality').textContent])",
        )

    shown = [row for row in browser.run(rows) if "quarantined" in row[2]]
    assert shown
    assert all("uncertain" in css and text not in ("", "\u2013") for css, text, _ in shown), shown
