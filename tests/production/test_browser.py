"""A real browser on a line's downtime page: an operator classifies a stop with two taps (category, then
reason) and the list updates without a reload; a new stop appears by itself; an operator's hostile comment is
shown as text and never runs."""

import time_machine

from accounts.services.roles import Role
from production.models import DowntimeArea, StateInterval
from production.services.downtime import stop_comment
from tests.browser import BROWSER_TESTS, login, screenshot
from tests.factories import UserFactory
from tests.production.conftest import at
from tests.production.engineered import _store
from tests.production.factories import DowntimeReasonFactory

pytestmark = BROWSER_TESTS

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def test_an_operator_classifies_a_stop_with_two_taps_and_the_list_updates_live(live_asgi, line, browser):
    machine = line.config.machine
    area = machine.line.area
    operator = UserFactory(username="op1", role=Role.OPERATOR)
    DowntimeArea.objects.create(area=area, user=operator)
    DowntimeReasonFactory(category__site=area.site, category__name="Electrical", name="Motor")
    DowntimeReasonFactory(category__site=area.site, category__name="Setup", name="Changeover")
    clock = time_machine.travel(at(630), tick=True)
    clock.start()
    try:
        line.store(0, state=1, product=1, fault=0)
        line.store(60, state=6, fault=17)  # down on a jam: classified automatically
        line.store(600, state=1, fault=0)
        line.store(620, state=2)  # starved, no fault code: unclassified, open
        jam = StateInterval.objects.get(machine=machine, state="unplanned_down")
        starved = StateInterval.objects.get(machine=machine, state="idle")
        stop_comment(interval_id=jam.pk, comment=HOSTILE, user=operator)
        url = f"{live_asgi.url}/production/lines/{machine.line_id}/downtime/"

        def open_page(page) -> str:
            login(page, url, "op1")
            page.wait_for_selector("#stops[data-ready=true]", timeout=10_000)
            page.evaluate("window.__sameDocument = true")
            return page.get_attribute("#stop-panel", "data-stop")

        assert browser.run(open_page) == str(starved.pk)  # the unclassified stop is the one selected

        def two_taps(page) -> tuple[str, str, bool]:
            page.click('#picker-categories button:has-text("Electrical")')  # tap 1
            page.click('#picker-reasons button:has-text("Motor")')  # tap 2
            row = f'li.stop[data-stop="{starved.pk}"][data-reason="Motor"]'
            page.wait_for_selector(row, timeout=5_000)
            return (
                page.inner_text(row),
                page.get_attribute(row, "data-unclassified"),
                page.evaluate("window.__sameDocument === true"),
            )

        text, unclassified, same_document = browser.run(two_taps)
        assert "Electrical / Motor" in text
        assert "by op1" in text
        assert unclassified == "false"
        assert same_document  # no reload
        starved.refresh_from_db()
        assert (starved.reason.name, starved.classified_by) == ("Motor", operator)

        line.store(640, state=1)
        line.store(645, state=6)  # a new stop, pushed to the page
        new = StateInterval.objects.get(machine=machine, state="unplanned_down", start=at(645))

        def sees_the_new_stop(page) -> tuple[str, str, object, bool]:
            page.wait_for_selector(f'li.stop[data-stop="{new.pk}"][data-unclassified="true"]', timeout=5_000)
            screenshot(page, "downtime.png")
            return (
                page.get_attribute("#stop-panel", "data-stop"),
                page.inner_text(f'li.stop[data-stop="{jam.pk}"]'),
                page.evaluate("window.__pwned"),
                page.evaluate("window.__sameDocument === true"),
            )

        selected, jam_text, pwned, same_document = browser.run(sees_the_new_stop)
        assert selected == str(new.pk)  # the newest unclassified stop is offered next
        assert HOSTILE in jam_text  # shown as the operator typed it
        assert pwned is None
        assert same_document
    finally:
        clock.stop()


def test_the_state_timeline_draws_one_band_per_interval_coloured_by_state(live_asgi, line, browser):
    from tests.production.factories import ShiftCalendarFactory, ShiftPatternFactory

    machine = line.config.machine
    engineer = UserFactory(username="eng", role=Role.ENGINEER)
    ShiftPatternFactory(
        calendar=ShiftCalendarFactory(site=machine.line.area.site), name="Early", weekdays=[0, 1, 2, 3, 4, 5, 6]
    )
    with time_machine.travel(at(900), tick=True):
        line.store(0, state=1, product=1, fault=0)
        line.store(60, state=6, fault=17)
        line.store(300, state=4, fault=0)  # changeover
        line.store(600, state=1, product=2)  # back to running on another product: a product change marked
        jam = StateInterval.objects.get(machine=machine, state="unplanned_down")
        stop_comment(interval_id=jam.pk, comment=HOSTILE, user=engineer)
        url = f"{live_asgi.url}/production/machines/{machine.pk}/timeline/"

        def draw(page) -> tuple[str, int, str, object]:
            login(page, url, "eng")
            page.wait_for_selector("#timeline[data-bands='4']", timeout=10_000)
            bars = page.locator("#timeline .barlayer .point").count()
            marks = page.locator("#timeline .scatterlayer .point").count()
            # Hover the down band (traces in state order: running, setup, unplanned down): its label carries the
            # reason and the comment, as text.
            box = page.locator("#timeline .barlayer .trace").nth(2).locator(".point").first.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_selector("#timeline .hoverlayer .hovertext", timeout=5_000)
            label = page.text_content("#timeline .hoverlayer")
            screenshot(page, "timeline.png")
            return page.inner_text("h1"), bars, marks, label, page.evaluate("window.__pwned")

        title, bars, marks, label, pwned = browser.run(draw)
    assert "Early shift 2026-03-01" in title
    assert bars == 4
    assert marks == 1
    assert "Jam" in label
    assert "<img src=x" in label
    assert pwned is None


def test_classifying_a_stop_changes_the_oee_view_and_the_pareto_without_reload(live_asgi, line, browser):
    """Issue 13's browser test: the downtime list, the OEE view and the loss Pareto open side by side; an operator
    classifies the unclassified stop on the list; the Pareto's Unclassified bar becomes the reason's and the OEE
    view is pushed again, neither page reloaded."""
    from tests.production.factories import ProductCycleTimeFactory, ShiftCalendarFactory, ShiftPatternFactory

    machine = line.config.machine
    area = machine.line.area
    operator = UserFactory(username="op1", role=Role.OPERATOR)
    DowntimeArea.objects.create(area=area, user=operator)
    DowntimeReasonFactory(category__site=area.site, category__name="Electrical", name="Motor")
    ShiftPatternFactory(calendar=ShiftCalendarFactory(site=area.site), name="Early", weekdays=[0, 1, 2, 3, 4, 5, 6])
    ProductCycleTimeFactory(machine_production=line.config, product=line.p1, ideal_cycle_seconds=12)
    clock = time_machine.travel(at(700), tick=True)
    clock.start()
    try:
        line.store(0, state=1, product=1, fault=0)
        _store(line, at(0), {"total": 0, "good": 0})
        line.store(60, state=2)  # starved, no fault code: unclassified
        line.store(600, state=1)
        _store(line, at(600), {"total": 8, "good": 7})
        base = f"{live_asgi.url}/production/lines/{machine.line_id}"
        pages = {}  # used in the browser's thread only

        def open_pages(page) -> tuple[str, str, str]:
            login(page, f"{base}/downtime/", "op1")
            page.wait_for_selector("#stops[data-ready=true]", timeout=10_000)
            # Two more tabs signed in as the same operator (a context of their own holding the session cookie).
            tabs = page.context.browser.new_context(
                storage_state=page.context.storage_state(), viewport={"width": 1400, "height": 900}
            )
            oee = pages["oee"] = tabs.new_page()
            oee.goto(f"{base}/oee/")
            oee.wait_for_selector("#oee-line[data-ready=true]", timeout=10_000)
            pareto = pages["pareto"] = tabs.new_page()
            pareto.goto(f"{base}/pareto/")
            pareto.wait_for_selector("#pareto-chart[data-ready=true]", timeout=10_000)
            for p in (oee, pareto):
                p.evaluate("window.__sameDocument = true")
            return (
                pareto.inner_text("#pareto-rows"),
                oee.get_attribute("#oee-line", "data-oee"),
                pareto.get_attribute('tr[data-kind="unclassified"] a', "href"),
            )

        rows, oee_before, link = browser.run(open_pages)
        assert "Unclassified" in rows
        assert link == f"/production/lines/{machine.line_id}/downtime/"
        assert oee_before  # the shift has a figure

        def classify(page) -> tuple[str, str, bool, bool, int]:
            oee, pareto = pages["oee"], pages["pareto"]
            oee.evaluate("document.getElementById('oee-line').dataset.ready = 'pushed-before'")
            page.bring_to_front()
            page.click('#picker-categories button:has-text("Electrical")')
            page.click('#picker-reasons button:has-text("Motor")')
            pareto.wait_for_selector('tr[data-kind="reason"]:has-text("Electrical / Motor")', timeout=10_000)
            oee.wait_for_selector("#oee-line[data-ready=true]", timeout=10_000)  # pushed again since
            pareto.bring_to_front()
            screenshot(pareto, "pareto.png")
            oee.bring_to_front()
            screenshot(oee, "oee.png")
            return (
                pareto.inner_text("#pareto-rows"),
                oee.inner_text("#oee-machines"),
                pareto.evaluate("window.__sameDocument === true"),
                oee.evaluate("window.__sameDocument === true"),
                pareto.locator("#pareto-chart .barlayer .point").count(),
            )

        rows, machines, pareto_same, oee_same, bars = browser.run(classify)
        assert "Unclassified" not in rows
        assert "Electrical / Motor" in rows
        assert machine.name in machines
        assert pareto_same  # no reload
        assert oee_same
        assert bars >= 1
    finally:
        if pages:
            browser.run(lambda page: pages["oee"].context.close())
        clock.stop()
