"""The trend explorer in Chromium: it draws the asked range from a rollup, and a zoom asks again, finer."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.services.roles import Role
from historian.quality import Quality
from historian.services.rollups import rollups_refresh
from tests.browser import BROWSER_TESTS, screenshot
from tests.factories import MachineFactory, TagFactory
from tests.samples import history_delete, write, write_wave

pytestmark = BROWSER_TESTS

START = datetime(2026, 3, 1, tzinfo=UTC)
HOURS = 48


@pytest.fixture
def spindle_temperature(transactional_db):
    tag = TagFactory(
        name="spindle_temperature",
        machine=MachineFactory(name="Mill", line__name="L1", line__area__name="Cell", line__area__site__name="Works"),
        address="HR0",
        units="°C",
    )
    # Two days at 1 Hz, with ten minutes of bad quality in the middle of the first day.
    gap_start, gap = START + timedelta(hours=12), 600
    write_wave(tag, start=START, seconds=12 * 3600, step=5)
    write(tag, [(gap_start + timedelta(seconds=s), None, Quality.BAD_COMM_FAILURE) for s in range(0, gap, 10)])
    write_wave(tag, start=gap_start + timedelta(seconds=gap), seconds=(HOURS - 12) * 3600 - gap, step=5)
    rollups_refresh()
    yield tag
    history_delete(tag_ids=[tag.pk])


def _login(page, url: str) -> None:
    page.goto(url)
    page.fill("#id_username", "engineer")
    page.fill("#id_password", "pw-engineer-1")
    page.click("button[type=submit]")


def _chart(page) -> dict:
    return page.eval_on_selector("#explorer-chart", "el => ({...el.dataset})")


def test_explorer_refetches_finer_on_zoom_compares_exports_and_follows_live(
    live_asgi, spindle_temperature, make_user, browser
):
    make_user("engineer", role=Role.ENGINEER)
    end = START + timedelta(hours=HOURS)
    url = (
        f"{live_asgi.url}/explorer/?tags={spindle_temperature.pk}"
        f"&start={START:%Y-%m-%dT%H:%M:%SZ}&end={end:%Y-%m-%dT%H:%M:%SZ}"
    )

    def open_explorer(page) -> dict:
        _login(page, url)
        page.wait_for_url("**/explorer/**")
        page.wait_for_function("() => document.querySelector('#explorer-chart').dataset.draws === '1'", timeout=20_000)
        page.wait_for_selector("#pens li", timeout=5_000)
        screenshot(page, "explorer.png")
        return _chart(page)

    before = browser.run(open_explorer)
    assert before["resolution"] == "1m"  # two days: from the 1-minute rollup
    assert before["requests"] == "1"
    assert int(before["points"]) <= 4 * 1400
    assert int(before["badStretches"]) >= 1

    def zoom(page) -> tuple[dict, str, list]:
        # Drag a zoom box over a twentieth of the plot, as a person does.
        box = page.locator("#explorer-chart .nsewdrag").first.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.50, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.52, y, steps=5)
        page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=5)
        page.mouse.up()
        page.wait_for_function("() => document.querySelector('#explorer-chart').dataset.draws === '2'", timeout=20_000)
        screenshot(page, "explorer-zoomed.png")
        xs = page.evaluate("document.querySelector('#explorer-chart').data[0].x.slice(0, 3)")
        return _chart(page), page.url, xs

    after, page_url, xs = browser.run(zoom)
    assert after["requests"] == "2"
    assert after["resolution"] == "raw"  # about 2.4 hours: raw samples
    assert float(after["bucketSeconds"]) < float(before["bucketSeconds"]) / 10
    zoomed = (int(float(after["start"])), int(float(after["end"])))
    whole = (START.timestamp() * 1000, end.timestamp() * 1000)
    assert whole[0] < zoomed[0] < zoomed[1] < whole[1]
    assert (zoomed[1] - zoomed[0]) < (whole[1] - whole[0]) / 10
    assert int(after["points"]) > 0
    assert xs  # the chart holds the new points
    # The link reproduces the zoomed view.
    query = parse_qs(urlsplit(page_url).query)
    assert query["tags"] == [str(spindle_temperature.pk)]
    assert datetime.fromisoformat(query["start"][0]).timestamp() * 1000 == pytest.approx(zoomed[0], abs=1)

    def compare_and_export(page) -> tuple[int, str, str, str]:
        page.check("#compare")
        page.wait_for_function("() => document.querySelector('#explorer-chart').dataset.draws === '3'", timeout=20_000)
        traces = page.evaluate("document.querySelector('#explorer-chart').data.length")
        with page.expect_download() as download:
            page.click("#export-csv")
        csv_text = download.value.path().read_text()
        with page.expect_download() as png:
            page.click("#export-png")
        page.fill("#tag-search", "spindle")
        page.wait_for_selector("#search-results [data-add-tag]", timeout=10_000)
        return traces, csv_text, png.value.suggested_filename, page.url

    traces, csv_text, png_name, page_url = browser.run(compare_and_export)
    assert traces == 2  # the pen and its previous period
    lines = csv_text.splitlines()
    assert lines[0] == "time,tag_id,tag_path,units,period,value,value_label,quality"
    periods = {line.split(",")[4] for line in lines[1:]}
    assert periods == {"shown", "previous"}
    assert len(lines) - 1 == int(after["points"]) + sum(1 for line in lines if ",previous," in line)
    assert png_name.endswith(".png")
    assert parse_qs(urlsplit(page_url).query)["compare"] == ["1"]

    def follow(page) -> tuple[int, int, str]:
        page.click("button[data-range='900']")
        page.check("#follow")
        first = int(page.get_attribute("#explorer-chart", "data-requests"))
        # Follow mode asks again by itself, for the last 15 minutes up to now.
        page.wait_for_function(
            f"() => Number(document.querySelector('#explorer-chart').dataset.requests) >= {first + 2}"
        )
        end = float(page.get_attribute("#explorer-chart", "data-end"))
        return first, int(end), page.url

    _, end_ms, page_url = browser.run(follow)
    assert abs(end_ms / 1000 - datetime.now(UTC).timestamp()) < 60
    query = parse_qs(urlsplit(page_url).query)
    assert query["follow"] == ["1"]
    assert query["range"] == ["900"]
    assert "start" not in query
