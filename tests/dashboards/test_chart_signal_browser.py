"""Charts that respect the signal (issue 18.2), read from the Plotly figures in Chromium: counts drawn as steps,
labelled states as bands in the explorer, analog values as ramps, every y axis titled with its units, and bad-quality
stretches shaded on the machine page as in the explorer (one implementation: static/js/lib/chart.js)."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.services.roles import Role
from historian.models import ValueLabel, ValueLabelSet
from historian.quality import Quality
from tests.browser import BROWSER_TESTS
from tests.factories import MachineFactory, TagFactory
from tests.samples import history_delete, write


def _states() -> ValueLabelSet:
    states = ValueLabelSet.objects.create(name="Machine state")
    for value, label in ((0, "Idle"), (1, "Running"), (2, "Down")):
        ValueLabel.objects.create(set=states, value=value, label=label, colour="#607d8b")
    return states


pytestmark = BROWSER_TESTS

FIGURE = """(selector) => {
  const el = document.querySelector(selector);
  const axes = Object.keys(el.layout).filter((k) => k.startsWith("yaxis")).sort();
  return {
    traces: el.data.map((t) => ({name: t.name, shape: t.line.shape, yaxis: t.yaxis || "y"})),
    titles: Object.fromEntries(axes.map((k) => [k, (el.layout[k].title || {}).text])),
    ticks: Object.fromEntries(axes.map((k) => [k, el.layout[k].ticktext || null])),
    shapes: (el.layout.shapes || []).map((s) => ({yref: s.yref, x0: Number(s.x0), x1: Number(s.x1)})),
    drawnShapes: el.querySelectorAll(".layer-below .shapelayer path").length,
    badStretches: el.dataset.badStretches,
  };
}"""


@pytest.fixture
def mill(transactional_db):
    machine = MachineFactory(name="Mill", line__name="L1", line__area__name="Cell", line__area__site__name="Works")
    tags = {
        "speed": TagFactory(machine=machine, name="speed", units="rpm", is_key=True),
        "parts": TagFactory(machine=machine, name="parts", data_type="uint32", units="parts", is_key=True),
        "state": TagFactory(machine=machine, name="state", data_type="int16", value_labels=_states()),
    }
    yield machine, tags
    history_delete(tag_ids=[t.pk for t in tags.values()])


def test_the_machine_page_draws_counts_as_steps_analog_values_as_ramps_and_shades_bad_quality(
    live_asgi, mill, make_user, browser
):
    machine, tags = mill
    make_user("operator")
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=5)
    bad_from, bad_to = now - timedelta(minutes=3), now - timedelta(minutes=2)
    speed = []
    for s in range(0, 300, 10):
        at = start + timedelta(seconds=s)
        bad = bad_from <= at < bad_to
        speed.append((at, None, Quality.BAD_COMM_FAILURE) if bad else (at, 1000.0 + s))
    write(tags["speed"], speed)
    write(tags["parts"], [(start + timedelta(seconds=s), float(s // 30)) for s in range(0, 300, 30)])
    url = f"{live_asgi.url}/machines/{machine.pk}/"

    def figure(page) -> dict:
        page.goto(url)
        page.fill("#id_username", "operator")
        page.fill("#id_password", "pw-operator-1")
        page.click("button[type=submit]")
        page.wait_for_function(
            "() => { const el = document.getElementById('trend');"
            " return el.dataset.loaded === 'true' && Number(el.dataset.points) > 0"
            " && el.querySelectorAll('.layer-below .shapelayer path').length > 0; }",
            timeout=30_000,
        )
        return page.evaluate(FIGURE, "#trend")

    drawn = browser.run(figure)
    by_name = {t["name"]: t for t in drawn["traces"]}
    assert by_name["speed (rpm)"]["shape"] == "linear"
    assert by_name["parts (parts)"]["shape"] == "hv"
    speed_axis = "yaxis" + by_name["speed (rpm)"]["yaxis"][1:]
    parts_axis = "yaxis" + by_name["parts (parts)"]["yaxis"][1:]
    assert "rpm" in drawn["titles"][speed_axis]
    assert "parts" in drawn["titles"][parts_axis]
    # One stretch, on the speed panel only, from the first bad sample to the next good one.
    assert drawn["badStretches"] == "1"
    assert drawn["drawnShapes"] == 1
    [shape] = drawn["shapes"]
    assert shape["yref"] == by_name["speed (rpm)"]["yaxis"] + " domain"
    assert shape["x0"] == bad_from.timestamp() * 1000
    assert shape["x1"] == bad_to.timestamp() * 1000


def test_the_explorer_draws_a_state_as_a_band_and_titles_every_axis_with_its_units(live_asgi, mill, make_user, browser):
    _, tags = mill
    make_user("engineer", role=Role.ENGINEER)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    write(tags["speed"], [(start + timedelta(seconds=s), 1000.0 + s) for s in range(0, 3600, 10)])
    write(tags["state"], [(start + timedelta(seconds=s), float(s // 600 % 3)) for s in range(0, 3600, 600)])
    end = start + timedelta(hours=1)
    url = (
        f"{live_asgi.url}/explorer/?tags={tags['state'].pk},{tags['speed'].pk}"
        f"&start={start:%Y-%m-%dT%H:%M:%SZ}&end={end:%Y-%m-%dT%H:%M:%SZ}"
    )

    def figure(page) -> dict:
        page.goto(url)
        page.fill("#id_username", "engineer")
        page.fill("#id_password", "pw-engineer-1")
        page.click("button[type=submit]")
        page.wait_for_url("**/explorer/**")
        page.wait_for_function("() => document.querySelector('#explorer-chart').dataset.draws === '1'", timeout=20_000)
        return page.evaluate(FIGURE, "#explorer-chart")

    drawn = browser.run(figure)
    by_name = {t["name"]: t for t in drawn["traces"]}
    # A state with a value label set is a band of its states (tests/dashboards/test_explorer_state_band_browser.py)
    # on an axis of its own whose tick names it; the analog value a ramp on an axis titled with its unit.
    bands = {name: t for name, t in by_name.items() if name.startswith("state: ")}
    assert set(bands) == {"state: Idle", "state: Running", "state: Down"}
    [band_axis] = {t["yaxis"] for t in bands.values()}
    assert by_name["speed (rpm)"]["shape"] == "linear"
    assert drawn["titles"]["yaxis"] == "rpm"
    assert drawn["ticks"]["yaxis" + band_axis.removeprefix("y")] == ["state"]
    assert drawn["badStretches"] == "0"
