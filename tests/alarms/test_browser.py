"""Two real browsers on the alarm page: a simulated value crosses a limit, the alarm shows within 2 s; an
acknowledgement in one browser shows in the other. (Headless Chromium through Playwright, as in dashboards.)"""

import pytest
from django.conf import settings
from django.utils import timezone

from alarms.models import Alarm, AlarmDefinition, JournalEntry
from historian.queries.history import current_values
from ingest.acquisition.poll import Polling, device_poll
from tests.alarms.conftest import grant
from tests.browser import BROWSER_TESTS, BrowserThread
from tests.waiting import wait_until

pytestmark = [*BROWSER_TESTS, pytest.mark.serial]


@pytest.fixture
def browsers():
    first, second = BrowserThread(), BrowserThread()
    yield first, second
    first.close()
    second.close()


def _open_alarm_page(url: str, username: str):
    def run(page) -> None:
        page.goto(f"{url}/alarms/")
        page.fill("#id_username", username)
        page.fill("#id_password", f"pw-{username}-1")
        page.click("button[type=submit]")
        page.wait_for_url("**/alarms/")
        page.wait_for_selector("#alarm-table[data-ready=true]", timeout=10_000)

    return run


def _hot_poll(polling: Polling, device, scan_class, plant_server, tag_id: int) -> None:
    """Heat the first machine's motor past HiHi (not to the trip) and poll until a poll has read it."""
    plant_server.plant.machine(0, 0).motor_temp = 93.5

    def hot_value_read() -> bool:
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
        return current_values(tag_ids=[tag_id])[tag_id].value > 92

    wait_until(hot_value_read, timeout=10, what="a poll reading the hot value from the simulator", interval=0.1)


def test_an_alarm_shows_live_and_an_acknowledgement_reaches_the_other_browser(
    polling, live_asgi, device, scan_class, plant_server, django_user_model, browsers
):
    first, second = browsers
    grant(
        django_user_model.objects.create_user("operator", password="pw-operator-1"), "view_alarm", "acknowledge_alarm"
    )
    grant(django_user_model.objects.create_user("watcher", password="pw-watcher-1"), "view_alarm")
    hihi = AlarmDefinition.objects.get(tag__path__endswith="CNC 101.motor_temperature", kind="hihi")
    row = f'tr.alarm[data-alarm="{hihi.pk}"]'
    first.run(_open_alarm_page(live_asgi.url, "operator"))
    second.run(_open_alarm_page(live_asgi.url, "watcher"))

    _hot_poll(polling, device, scan_class, plant_server, hihi.tag_id)

    def shows_the_new_alarm(page) -> tuple[str, bool, str]:
        page.wait_for_selector(f'{row}[data-state="unack_active"]', timeout=2_000)  # the bound: 2 s
        return (
            page.inner_text(row),
            page.is_visible("#alarm-new"),
            page.get_attribute("#alarm-banner", "data-unacknowledged"),
        )

    text, new_flag, unacknowledged = first.run(shows_the_new_alarm)
    assert "CNC 101 motor temperature" in text
    assert "CRITICAL" in text.upper()
    assert new_flag
    assert int(unacknowledged) >= 1
    assert second.run(shows_the_new_alarm)[1]

    def acknowledge(page) -> None:
        page.fill("#alarm-comment", "checking the fan")
        page.click(f'{row} button[data-action="acknowledge"]')
        page.wait_for_selector(f'{row}[data-state="ack_active"]', timeout=5_000)
        screens = settings.MILLWRIGHT_STATE_DIR / "screens"
        screens.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screens / "alarms.png"))

    first.run(acknowledge)

    def sees_the_acknowledgement(page) -> str:
        page.wait_for_selector(f'{row}[data-state="ack_active"]', timeout=5_000)
        return page.inner_text(row)

    assert "by operator" in second.run(sees_the_acknowledgement)
    assert Alarm.objects.get(pk=hihi.pk).acknowledged_by.username == "operator"
    entries = list(
        JournalEntry.objects.filter(alarm_id=hihi.pk).order_by("time", "id").values_list("event", "username", "comment")
    )
    assert entries == [("activate", "", ""), ("acknowledge", "operator", "checking the fan")]


def test_a_watcher_without_permission_cannot_acknowledge(live_asgi, demo_plant, django_user_model, browser):
    grant(django_user_model.objects.create_user("watcher", password="pw-watcher-1"), "view_alarm")
    browser.run(_open_alarm_page(live_asgi.url, "watcher"))

    def buttons_disabled(page) -> bool:
        return page.is_disabled("#ack-selected") and page.is_disabled("#shelve-selected")

    assert browser.run(buttons_disabled)


def test_a_security_alarm_shows_live_with_its_evidence_as_text_only_to_who_may_see_it(
    live_asgi, demo_plant, django_user_model, browsers
):
    from accounts.services.roles import Role
    from alarms.services.security import security_alarm_raise
    from inventory.security_events import SecurityEvent, SecurityEventKind
    from tests.factories import UserFactory

    engineer, operator = browsers
    for name, role in (("engineer", Role.ENGINEER), ("operator", Role.OPERATOR)):
        user = UserFactory(username=name, role=role)
        user.set_password(f"pw-{name}-1")
        user.save()
    engineer.run(_open_alarm_page(live_asgi.url, "engineer"))
    operator.run(_open_alarm_page(live_asgi.url, "operator"))

    hostile = '<img src=x onerror="document.body.dataset.pwned=1">'
    security_alarm_raise(
        event=SecurityEvent(
            kind=SecurityEventKind.UNKNOWN_EDGE_NODE,
            subject="sparkplug:Plant A/Edge 9",
            message=f"Unknown edge node {hostile}",
            at=timezone.now(),
            evidence={"group": "Plant A", "node": hostile},
        )
    )
    alarm = Alarm.objects.get(definition__category="security")
    row = f'tr.alarm[data-alarm="{alarm.pk}"]'

    def shows_it(page) -> tuple[str, str, str | None, str | None]:
        page.wait_for_selector(f'{row}[data-state="unack_rtn"]', timeout=5_000)
        page.select_option("#filter-category", "security")
        page.click(f"{row} details summary")
        return (
            page.inner_text(f"{row} pre.alarm-evidence"),
            page.inner_text(row),
            page.get_attribute("#alarm-security", "data-count"),
            page.get_attribute("body", "data-pwned"),
        )

    evidence, text, count, pwned = engineer.run(shows_it)
    assert "<img src=x onerror=" in evidence  # shown as text ...
    assert pwned is None  # ... never run as markup
    assert "security" in text.lower()
    assert "sparkplug:Plant A/Edge 9" in text
    assert count == "1"

    def sees_nothing(page) -> tuple[int, bool]:
        page.wait_for_timeout(500)  # the push went out to the engineer already: the operator's would have too
        return page.locator(row).count(), page.locator("#alarm-security").count() > 0

    assert operator.run(sees_nothing) == (0, False)

    def detail(page) -> str:
        page.goto(f"{live_asgi.url}/alarms/{alarm.pk}/")
        return page.inner_text("#alarm-evidence")

    assert '"node": "<img src=x onerror=' in engineer.run(detail)
