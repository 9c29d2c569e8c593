"""A page in German, in Chromium: a user switches the language in the header; the overview and the alarm list
then speak German (the server's texts and the scripts'), write numbers with a decimal comma, and show times in the
plant's zone with its abbreviation."""

from datetime import UTC, datetime, timedelta

from alarms.models import AlarmDefinition
from alarms.services.evaluation import alarms_evaluate_strict
from historian.quality import Quality
from historian.sample_types import SampleRow
from tests.browser import BROWSER_TESTS, login, screenshot
from tests.factories import MachineFactory, SiteFactory, TagFactory
from tests.samples import write

pytestmark = BROWSER_TESTS


def test_the_overview_and_the_alarm_list_in_german_with_decimal_commas_and_the_plants_zone(
    live_asgi, make_user, browser
):
    make_user("anna")
    site = SiteFactory(name="Werk Nord", timezone="Europe/Berlin")
    machine = MachineFactory(name="Presse 7", line__area__site=site)
    temperature = TagFactory(machine=machine, name="temperature", units="°C", is_key=True)
    now = datetime.now(UTC).replace(microsecond=0)
    write(temperature, [(now - timedelta(minutes=1), 20.0), (now, 1234.5678)])
    definition = AlarmDefinition.objects.create(
        tag=temperature, name="Heiß", kind="hi", limit=80.0, priority="high", message="Temperatur zu hoch"
    )
    alarms_evaluate_strict(rows=[SampleRow(now, temperature.pk, 90.25, Quality.GOOD)], now=now)

    def overview(page) -> dict:
        login(page, f"{live_asgi.url}/", "anna")
        assert page.eval_on_selector("html", "el => el.lang") == "en"
        page.click("#language-switch")
        page.wait_for_function("() => document.documentElement.lang === 'de'", timeout=15_000)
        value = f'.value[data-tag="{temperature.pk}"] .num'
        page.wait_for_function(f"() => document.querySelector('{value}').textContent !== '\u2013'", timeout=15_000)
        screenshot(page, "overview-de.png")
        return page.evaluate(
            f"""() => ({{
                h1: document.querySelector('h1').textContent,
                nav: [...document.querySelectorAll('.topbar nav a')].map((a) => a.textContent),
                value: document.querySelector('{value}').textContent,
                zone: document.querySelector('#time-zone-label').textContent,
                zoneSwitch: document.querySelector('#time-zone-switch').textContent.trim(),
                link: document.querySelector('#link-status').textContent,
                oee: document.querySelector('[data-oee-for="{machine.pk}"]').textContent,
            }})"""
        )

    seen = browser.run(overview)
    assert seen["h1"] == "Anlagenübersicht"
    assert "Anlage" in seen["nav"]
    assert "Alarme" in seen["nav"]
    assert seen["value"] == "1.235"  # >= 1000: no decimals, a point between thousands
    assert seen["zone"] == "CET"
    assert seen["zoneSwitch"] == "CET Werkszeit"
    assert seen["link"] in {"live", "verbinde", "verbinde neu"}
    assert seen["oee"].startswith("OEE")

    def alarm_list(page) -> dict:
        page.goto(f"{live_asgi.url}/alarms/")
        page.wait_for_selector(f'#alarm-rows tr[data-alarm="{definition.pk}"]', timeout=15_000)
        screenshot(page, "alarms-de.png")
        row = f'#alarm-rows tr[data-alarm="{definition.pk}"]'
        return page.evaluate(
            f"""() => ({{
                h1: document.querySelector('h1').childNodes[0].textContent.trim(),
                summary: document.querySelector('#alarm-summary').textContent,
                headings: [...document.querySelectorAll('#alarm-table thead th')].map((th) => th.textContent),
                cells: [...document.querySelectorAll('{row} td')].map((td) => td.textContent),
                ack: document.querySelector('#ack-selected').textContent,
            }})"""
        )

    seen = browser.run(alarm_list)
    assert seen["h1"] == "Alarme"
    assert seen["summary"] == "1 angezeigt, 1 unquittiert"
    assert seen["headings"][1:7] == ["Priorität", "Seit", "Ort", "Meldung", "Wert", "Zustand"]
    assert seen["ack"] == "Ausgewählte quittieren"
    cells = seen["cells"]
    assert cells[1] == "hoch"
    assert cells[2].endswith("MEZ")  # the plant's zone (Europe/Berlin in December), as German writes it
    assert cells[5] == "90,25 °C"  # decimal comma
    assert cells[6] == "Unquittiert, aktiv"
    assert "Quitt." in cells[7]
