"""Value labels on the pages, in Chromium: a state shows as its label with its colour, and a label an administrator
typed with markup in it is shown as text, never run."""

from datetime import UTC, datetime

from historian.models import ValueLabel, ValueLabelSet
from historian.quality import Quality
from tests.browser import BROWSER_TESTS, screenshot
from tests.factories import MachineFactory, TagFactory
from tests.samples import write

pytestmark = BROWSER_TESTS

HOSTILE = '<img src=x onerror="window.__pwned=1">Jam'


def _login(page, url: str) -> None:
    page.goto(url)
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pw-operator-1")
    page.click("button[type=submit]")


def test_the_machine_page_and_overview_show_running_for_state_1_and_labels_as_text(live_asgi, make_user, browser):
    make_user("operator")
    states = ValueLabelSet.objects.create(name="Machine state")
    ValueLabel.objects.create(set=states, value=0, label="Idle", colour="#9e9e9e")
    ValueLabel.objects.create(set=states, value=1, label="Running", colour="#2e7d32")
    jams = ValueLabelSet.objects.create(name="Jam codes")
    ValueLabel.objects.create(set=jams, value=2, label=HOSTILE, colour="#c62828")
    machine = MachineFactory(name="Press 7")
    state = TagFactory(machine=machine, name="state", data_type="uint16", value_labels=states, is_key=True)
    jam = TagFactory(machine=machine, name="jam", data_type="uint16", value_labels=jams, is_key=True)
    machine.state_tag = state
    machine.save()
    now = datetime.now(UTC)
    write(state, [(now, 1, Quality.GOOD)])
    write(jam, [(now, 2, Quality.GOOD)])

    def machine_page(page) -> dict:
        _login(page, f"{live_asgi.url}/machines/{machine.pk}/")
        page.wait_for_url(f"**/machines/{machine.pk}/")
        badge = page.locator(f'[data-state-for="{machine.pk}"]')
        badge.filter(has_text="Running").wait_for(timeout=10_000)
        jam_cell = page.locator(f'tr[data-tag="{jam.pk}"] .num')
        screenshot(page, "machine-value-labels.png")
        return {
            "badge": badge.inner_text(),
            "badge_swatch": badge.evaluate(
                "el => el.classList.contains('labelled') && el.style.getPropertyValue('--swatch')"
            ),
            "state_cell": page.locator(f'tr[data-tag="{state.pk}"] .num').inner_text(),
            "jam_text": jam_cell.inner_text(),
            "jam_images": jam_cell.locator("img").count(),
            "pwned": page.evaluate("() => window.__pwned === 1"),
        }

    seen = browser.run(machine_page)
    assert seen == {
        "badge": "Running",
        "badge_swatch": "#2e7d32",
        "state_cell": "Running",
        "jam_text": HOSTILE,
        "jam_images": 0,
        "pwned": False,
    }

    def overview(page) -> tuple[str, str]:
        page.goto(f"{live_asgi.url}/")
        badge = page.locator(f'[data-state-for="{machine.pk}"]')
        badge.filter(has_text="Running").wait_for(timeout=10_000)
        jam_value = page.locator(f'.value[data-tag="{jam.pk}"] .num')
        return badge.inner_text(), jam_value.inner_text()

    assert browser.run(overview) == ("Running", HOSTILE)
