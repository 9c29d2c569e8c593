"""From a value to its trend, in Chromium: a click on a value of the overview card, the machine page's table or
the alarm list opens the tag's last hour in place, live, closed by Escape, with a link to the explorer with the pen
for those who may use it."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from accounts.services.roles import Role
from alarms.models import AlarmDefinition
from alarms.services.evaluation import alarms_evaluate_strict
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.live import live_samples_publish
from tests.browser import BROWSER_TESTS, login, screenshot
from tests.factories import MachineFactory, TagFactory
from tests.samples import write

pytestmark = BROWSER_TESTS

DIALOG = "#quick-trend"


def _opened(page, selector: str) -> dict:
    before = int(page.evaluate("() => Number(document.querySelector('#quick-trend').dataset.loaded || 0)"))
    page.click(selector)
    page.wait_for_function(
        f"() => document.querySelector('#quick-trend').open && "
        f"Number(document.querySelector('#quick-trend').dataset.loaded || 0) > {before}",
        timeout=15_000,
    )
    return page.eval_on_selector(
        DIALOG,
        """el => ({tag: el.dataset.tag, points: Number(el.dataset.points),
                   title: el.querySelector('.quick-trend-title').textContent,
                   value: el.querySelector('.quick-trend-value').textContent,
                   kind: el.querySelector('.quick-trend-chart').dataset.kind,
                   link: el.querySelector('.quick-trend-explorer').hidden ? null
                         : el.querySelector('.quick-trend-explorer').getAttribute('href')})""",
    )


def _closed_by_escape(page) -> tuple[bool, str]:
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#quick-trend').open", timeout=5_000)
    return False, page.evaluate("() => document.activeElement.dataset.trendTag || ''")


def test_a_click_on_a_value_opens_its_live_last_hour_in_place_and_escape_closes_it(
    live_asgi, make_user, browser, settings
):
    make_user("engineer", role=Role.ENGINEER)
    machine = MachineFactory(name="Press 7")
    temperature = TagFactory(machine=machine, name="temperature", units="°C", is_key=True)
    now = datetime.now(UTC).replace(microsecond=0)
    write(temperature, [(now - timedelta(minutes=m), 20.0 + m) for m in range(59, 0, -1)])
    definition = AlarmDefinition.objects.create(tag=temperature, name="Hot", kind="hi", limit=80.0, priority="high")
    alarms_evaluate_strict(rows=[SampleRow(now, temperature.pk, 90.0, Quality.GOOD)], now=now)
    write(temperature, [(now, 90.0)])

    def overview(page) -> dict:
        login(page, f"{live_asgi.url}/", "engineer")
        return _opened(page, f'.value[data-tag="{temperature.pk}"] button.trend-value')

    opened = browser.run(overview)
    # A value stored and pushed now (as the ingest store does) arrives in the open trend.
    at = datetime.now(UTC)
    write(temperature, [(at, 55.5)])
    live_samples_publish(rows_by_machine={machine.pk: [SampleRow(at, temperature.pk, 55.5, Quality.GOOD)]})

    def live(page) -> dict:
        page.wait_for_function(
            "() => document.querySelector('#quick-trend .quick-trend-value').textContent === '55.50'", timeout=15_000
        )
        live_points = page.eval_on_selector(DIALOG, "el => Number(el.dataset.points)")
        screenshot(page, "quick-trend-overview.png")
        closed = _closed_by_escape(page)
        return {**opened, "live_points": live_points, "closed": closed, "url": page.url}

    seen = browser.run(live)
    assert seen["tag"] == str(temperature.pk)
    assert seen["title"] == temperature.path
    assert seen["points"] >= 59
    assert seen["live_points"] == seen["points"] + 1
    assert seen["kind"] == "line"
    assert seen["url"] == f"{live_asgi.url}/"  # in place: the card's link was not followed
    assert seen["closed"] == (False, str(temperature.pk))  # focus back on the value
    query = parse_qs(urlsplit(seen["link"]).query)
    assert urlsplit(seen["link"]).path == "/explorer/"
    assert query == {"tags": [str(temperature.pk)], "range": ["3600"], "follow": ["1"]}

    def machine_page(page) -> dict:
        page.goto(f"{live_asgi.url}/machines/{machine.pk}/")
        opened = _opened(page, f'tr[data-tag="{temperature.pk}"] td.num')
        _closed_by_escape(page)
        # Keyboard: the value cell is a button reached by Tab, opened by Enter.
        page.focus(f'tr[data-tag="{temperature.pk}"] td.num')
        page.keyboard.press("Enter")
        page.wait_for_selector(f"{DIALOG}[open]", timeout=5_000)
        return opened

    assert browser.run(machine_page)["tag"] == str(temperature.pk)

    def alarm_list(page) -> dict:
        page.goto(f"{live_asgi.url}/alarms/")
        page.wait_for_selector(f'#alarm-rows tr[data-alarm="{definition.pk}"] button.trend-value', timeout=15_000)
        return _opened(page, f'#alarm-rows tr[data-alarm="{definition.pk}"] button.trend-value')

    assert browser.run(alarm_list)["tag"] == str(temperature.pk)


def test_an_operator_gets_the_trend_without_the_explorer_link_and_a_state_as_a_band(live_asgi, make_user, browser):
    from historian.models import ValueLabel, ValueLabelSet

    make_user("operator")
    states = ValueLabelSet.objects.create(name="Machine state")
    ValueLabel.objects.create(set=states, value=1, label="Running", colour="#2e7d32")
    machine = MachineFactory(name="Press 8")
    state = TagFactory(machine=machine, name="state", data_type="uint16", value_labels=states, is_key=True)
    machine.state_tag = state
    machine.save()
    write(state, [(datetime.now(UTC) - timedelta(minutes=5), 1)])

    def overview(page) -> dict:
        login(page, f"{live_asgi.url}/", "operator")
        return _opened(page, f'[data-state-for="{machine.pk}"]')

    seen = browser.run(overview)
    assert (seen["tag"], seen["kind"], seen["value"], seen["link"]) == (str(state.pk), "band", "Running", None)
