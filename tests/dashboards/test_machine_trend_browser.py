"""The machine page's trend against live data: every stored sample is drawn, none missing around the page load.

Issue 11.9: the history loaded before the subscription, so what was stored between the history query and the
subscription was never drawn (5 loads in 8 missed a second). The page now subscribes first, buffers the live
samples, loads the history and merges both by time. The history answer is held back 1.5 s (a slow network), so
the moment the old order lost is long enough to hold stored samples on every load, not by chance.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from historian.queries.history import tag_history
from historian.queries.plant import machine_trend_tags
from historian.sample_types import datetime_to_us
from ingest.acquisition.poll import Polling, device_poll
from tests.browser import BROWSER_TESTS, login

pytestmark = [*BROWSER_TESTS, pytest.mark.serial]

LOADS = 2
HISTORY_LATENCY_MS = 1500  # a slow network between the history query and the page

DRAWN = """() => {
  const el = document.getElementById("trend");
  return el.data.map((trace) => trace.x.map(Number));
}"""


class Poller:
    """Polls the device in a thread about every 0.5 s, each poll stored."""

    def __init__(self, polling: Polling, device, scan_class) -> None:
        self.polling, self.device_id, self.scan_class_id = polling, device.pk, scan_class.pk
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                device_poll(polling=self.polling, device_id=self.device_id, scan_class_id=self.scan_class_id)
                self.stop.wait(0.4)  # a plant-floor rate: software WebGL in a loaded CI redraws slowly
        finally:
            connection.close()

    def __enter__(self) -> "Poller":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)


def _stored_ms(tag_ids: list[int], first: int, last: int) -> dict[int, set[int]]:
    start = datetime.fromtimestamp(first / 1000, tz=UTC) - timedelta(milliseconds=1)
    end = datetime.fromtimestamp(last / 1000, tz=UTC) + timedelta(milliseconds=1)
    history = tag_history(tag_ids=tag_ids, start=start, end=end, max_points=50_000)
    return {
        tag_id: {
            (datetime_to_us(p.time) + 500) // 1000
            for p in points
            if first <= (datetime_to_us(p.time) + 500) // 1000 <= last
        }
        for tag_id, points in history.items()
    }


def test_the_machine_trend_draws_every_stored_sample_across_its_load(
    polling, live_asgi, device, scan_class, machine, make_user, browser
):
    make_user("operator")
    trend = list(machine_trend_tags(machine_id=machine.pk))
    for tag in trend:  # every poll stored, so a sample the page skips is a stored sample
        tag.deadband = 0
        tag.compression_deviation = 0
        tag.save(update_fields=["deadband", "compression_deviation"])
    trend_ids = [t.pk for t in trend]
    url = f"{live_asgi.url}/machines/{machine.pk}/"

    def slow_history(route) -> None:
        response = route.fetch()  # the query runs now; the page gets its answer HISTORY_LATENCY_MS later
        route.request.frame.page.wait_for_timeout(HISTORY_LATENCY_MS)
        route.fulfill(response=response)

    def load(page, first: bool) -> None:
        if first:
            page.route("**/history.json*", slow_history)
            login(page, url, "operator")
        else:
            page.goto(url)
        page.wait_for_function(
            "() => Number(document.getElementById('trend').dataset.points) > 0", polling=200, timeout=30_000
        )
        # Live samples keep coming after the load: wait for some, so the drawn span covers the load and after.
        loaded_at = page.evaluate("Number(document.getElementById('trend').dataset.lastTime)")
        page.wait_for_function(
            f"() => Number(document.getElementById('trend').dataset.lastTime) > {loaded_at + 1500}", timeout=30_000
        )

    missing: list[str] = []
    compared = 0
    first = round(time.time() * 1000)
    with Poller(polling, device, scan_class):
        for n in range(LOADS):
            browser.run(lambda page, n=n: load(page, n == 0))
            drawn = browser.run(lambda page: page.evaluate(DRAWN))
            for tag_id, xs in zip(trend_ids, drawn, strict=True):
                assert xs == sorted(set(xs)), f"tag {tag_id}: drawn times out of order or twice"
            last = min(xs[-1] for xs in drawn)
            stored = _stored_ms(trend_ids, first, last)  # all stored since polling began: history included
            compared += sum(len(times) for times in stored.values())
            for tag_id, xs in zip(trend_ids, drawn, strict=True):
                lost = sorted(stored[tag_id] - set(xs))
                if lost:
                    missing.append(f"load {n + 1}, tag {tag_id}: {len(lost)} stored samples not drawn, e.g. {lost[:3]}")

    assert compared > 10 * LOADS  # the check had stored samples to compare
    assert not missing, "\n".join(missing)
