"""The overview a supervisor reads in one glance, in Chromium: each machine's state in its label's colour, its
active alarms counted, 15-minute sparklines of its key values, each line summarised in its heading; all live."""

from datetime import UTC, datetime, timedelta

from alarms.models import AlarmDefinition
from alarms.services.evaluation import alarms_evaluate_strict
from historian.models import ValueLabel, ValueLabelSet
from historian.quality import Quality
from historian.sample_types import SampleRow
from historian.services.live import live_samples_publish
from tests.browser import BROWSER_TESTS, login, screenshot
from tests.factories import LineFactory, MachineFactory, TagFactory
from tests.samples import write

pytestmark = BROWSER_TESTS

RUNNING, DOWN = "#2e7d32", "#c62828"


def _glance(page, line_id: int, machine_ids: list[int], speed_id: int) -> dict:
    return page.evaluate(
        """([line, machines, speed]) => ({
            states: document.querySelector(`[data-line-summary="${line}"] .line-states`).textContent,
            lineAlarms: document.querySelector(`[data-line-summary="${line}"] .line-alarms`).textContent,
            colours: machines.map((m) => {
                const el = document.querySelector(`[data-state-for="${m}"]`);
                return el.classList.contains('state-coloured') ? el.style.getPropertyValue('--state-colour') : null;
            }),
            alarms: machines.map((m) => {
                const el = document.querySelector(`[data-alarms-for="${m}"]`);
                return el.hidden ? null : el.textContent;
            }),
            sparkPoints: Number(document.querySelector(`svg[data-spark-for="${speed}"]`).dataset.points || 0),
            sparkPath: document.querySelectorAll(`svg[data-spark-for="${speed}"] path`).length,
        })""",
        [line_id, machine_ids, speed_id],
    )


def test_the_overview_shows_states_in_colour_alarms_sparklines_and_line_summaries_live(live_asgi, make_user, browser):
    make_user("operator")
    states = ValueLabelSet.objects.create(name="Machine state")
    ValueLabel.objects.create(set=states, value=1, label="Running", colour=RUNNING)
    ValueLabel.objects.create(set=states, value=2, label="Down", colour=DOWN)
    line = LineFactory(name="Line A")
    press, saw = MachineFactory(name="Press", line=line), MachineFactory(name="Saw", line=line)
    state_tags = {}
    for machine in (press, saw):
        state_tags[machine.pk] = TagFactory(
            machine=machine, name="state", data_type="uint16", value_labels=states, is_key=True
        )
        machine.state_tag = state_tags[machine.pk]
        machine.save()
    speed = TagFactory(machine=press, name="speed", units="rpm", is_key=True)
    now = datetime.now(UTC).replace(microsecond=0)
    write(state_tags[press.pk], [(now - timedelta(minutes=20), 1)])
    write(state_tags[saw.pk], [(now - timedelta(minutes=5), 2)])
    write(speed, [(now - timedelta(seconds=s), 1000.0 + s) for s in range(840, 0, -30)])
    AlarmDefinition.objects.create(tag=speed, name="Fast", kind="hi", limit=1500.0, priority="high")
    alarms_evaluate_strict(rows=[SampleRow(now, speed.pk, 1600.0, Quality.GOOD)], now=now)
    write(speed, [(now, 1600.0)])
    ids = [press.pk, saw.pk]

    def overview(page) -> dict:
        login(page, f"{live_asgi.url}/", "operator")
        page.wait_for_function("() => document.body.dataset.sparks === '1'", timeout=15_000)
        page.wait_for_selector(f'[data-alarms-for="{press.pk}"]:not([hidden])', timeout=15_000)
        screenshot(page, "overview-glance.png")
        return _glance(page, line.pk, ids, speed.pk)

    seen = browser.run(overview)
    assert seen["colours"] == [RUNNING, DOWN]
    assert seen["alarms"] == ["1 alarm", None]
    assert seen["lineAlarms"] == "1 active alarm"
    assert seen["states"] in ("1 Running · 1 Down", "1 Down · 1 Running")
    assert seen["sparkPoints"] >= 28
    assert seen["sparkPath"] == 1

    # The saw starts again and the press's speed moves: pushed as the ingest store pushes them.
    at = datetime.now(UTC)
    write(state_tags[saw.pk], [(at, 1)])
    write(speed, [(at, 1200.0)])
    live_samples_publish(
        rows_by_machine={
            saw.pk: [SampleRow(at, state_tags[saw.pk].pk, 1, Quality.GOOD)],
            press.pk: [SampleRow(at, speed.pk, 1200.0, Quality.GOOD)],
        }
    )

    def after(page) -> dict:
        summary = f'[data-line-summary="{line.pk}"] .line-states'
        page.wait_for_function(f"() => document.querySelector('{summary}').textContent === '2 Running'", timeout=15_000)
        return _glance(page, line.pk, ids, speed.pk)

    later = browser.run(after)
    assert later["colours"] == [RUNNING, RUNNING]
    assert later["sparkPoints"] == seen["sparkPoints"] + 1
