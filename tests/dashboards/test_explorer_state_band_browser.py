"""The trend explorer in Chromium draws a tag with a value label set as a state band: its stretches in the set's
colours, the label on hover, a label typed with markup shown as text; its CSV export has a value_label column."""

import csv
import io
from datetime import UTC, datetime, timedelta

from accounts.services.roles import Role
from historian.models import ValueLabel, ValueLabelSet
from tests.browser import BROWSER_TESTS, login, screenshot
from tests.factories import MachineFactory, TagFactory
from tests.samples import write

pytestmark = BROWSER_TESTS

HOSTILE = '<img src=x onerror="window.__pwned=1">Down'
RUNNING, DOWN = "#2e7d32", "#c62828"


def test_a_labelled_tag_is_a_coloured_state_band_with_labels_on_hover_and_in_the_csv(live_asgi, make_user, browser):
    make_user("engineer", role=Role.ENGINEER)
    states = ValueLabelSet.objects.create(name="Machine state")
    ValueLabel.objects.create(set=states, value=1, label="Running", colour=RUNNING)
    ValueLabel.objects.create(set=states, value=2, label=HOSTILE, colour=DOWN)
    machine = MachineFactory(name="Press 7")
    state = TagFactory(machine=machine, name="state", data_type="uint16", value_labels=states)
    speed = TagFactory(machine=machine, name="speed", units="rpm")
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=50)
    # Running for 30 minutes, down for 10, running again.
    write(state, [(start, 1), (start + timedelta(minutes=30), 2), (start + timedelta(minutes=40), 1)])
    write(speed, [(start + timedelta(minutes=m), 100.0 + m) for m in range(50)])
    url = f"{live_asgi.url}/explorer/?tags={state.pk},{speed.pk}&range=3600"

    def open_explorer(page) -> dict:
        login(page, url, "engineer")
        page.wait_for_function("() => document.querySelector('#explorer-chart').dataset.draws === '1'", timeout=20_000)
        chart = page.eval_on_selector("#explorer-chart", "el => ({...el.dataset})")
        colours = page.evaluate(
            "() => document.querySelector('#explorer-chart').data"
            ".filter((t) => t.meta && t.meta.band !== undefined).map((t) => t.line.color).sort()"
        )

        def hover_at(ms: float) -> str:
            # Where the band's row meets time `ms`, in page pixels (Plotly's own axis conversions).
            x, y = page.evaluate(
                """([ms, axis]) => {
                    const el = document.querySelector('#explorer-chart');
                    const l = el._fullLayout, xa = l.xaxis, ya = l[axis];
                    const d = new Date(ms), p = (n, w = 2) => String(n).padStart(w, '0');
                    const local = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
                      `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
                    const box = el.getBoundingClientRect();
                    return [box.left + xa._offset + xa.l2p(xa.d2l(local)), box.top + ya._offset + ya.l2p(0)];
                }""",
                [ms, chart["bandAxis"]],
            )
            page.mouse.move(x, y)
            page.wait_for_selector(".hoverlayer .hovertext", timeout=5_000)
            text = " | ".join(page.locator(".hoverlayer .hovertext").all_text_contents())
            page.mouse.move(1, 1)
            return text

        running = hover_at((start + timedelta(minutes=15)).timestamp() * 1000)
        down = hover_at((start + timedelta(minutes=35)).timestamp() * 1000)
        screenshot(page, "explorer-state-band.png")
        with page.expect_download() as download:
            page.click("#export-csv")
        return {
            "chart": chart,
            "colours": colours,
            "running": running,
            "down": down,
            "images": page.locator("#explorer-chart img").count(),
            "pwned": page.evaluate("() => window.__pwned === 1"),
            "csv": download.value.path().read_text(),
        }

    seen = browser.run(open_explorer)
    assert seen["chart"]["stateBands"] == "1"
    assert seen["colours"] == [RUNNING, DOWN]  # one trace per state, in its colour
    assert "Running" in seen["running"]
    assert HOSTILE in seen["down"]  # the markup is text
    assert (seen["images"], seen["pwned"]) == (0, False)
    rows = list(csv.DictReader(io.StringIO(seen["csv"])))
    labels = {r["value"]: r["value_label"] for r in rows if r["tag_id"] == str(state.pk)}
    assert labels == {"1": "Running", "2": HOSTILE}
    assert {r["value_label"] for r in rows if r["tag_id"] == str(speed.pk)} == {""}
