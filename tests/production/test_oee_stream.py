"""The OEE stream of the pages' socket over the real Redis channel layer: a line's current-shift OEE and its loss
Pareto, pushed again when an operator classifies a stop; a user who may not view the plant gets neither."""

import pytest
import time_machine
from channels.db import database_sync_to_async

from accounts.services.roles import Role
from production.consumers import _cards_of_loop
from production.models import DowntimeArea, StateInterval
from production.queries.kpis import Scope, ScopeKind, loss_pareto, machines_kpis
from production.services.downtime import stop_classify
from tests.factories import UserFactory
from tests.production.conftest import at
from tests.production.engineered import _store
from tests.production.factories import (
    DowntimeReasonFactory,
    ProductCycleTimeFactory,
    ShiftCalendarFactory,
    ShiftPatternFactory,
)
from tests.production.test_consumers import _open

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(line):
    """A shift from 06:00 (T0) every day; the machine ran, then idled unclassified from 60 s to 600 s."""
    site = line.config.machine.line.area.site
    ShiftPatternFactory(calendar=ShiftCalendarFactory(site=site), name="Early", weekdays=[0, 1, 2, 3, 4, 5, 6])
    ProductCycleTimeFactory(machine_production=line.config, product=line.p1, ideal_cycle_seconds=12)
    with time_machine.travel(at(650), tick=True):
        op = UserFactory(username="op1", role=Role.OPERATOR)
        DowntimeArea.objects.create(area=line.config.machine.line.area, user=op)
        motor = DowntimeReasonFactory(category__site=site, category__name="Electrical", name="Motor")
        line.store(0, state=1, product=1, fault=0)
        _store(line, at(0), {"total": 0, "good": 0})
        line.store(60, state=2)  # starved, no fault code: unclassified
        line.store(600, state=1)
        _store(line, at(600), {"total": 8, "good": 7})
        stop = StateInterval.objects.get(machine=line.config.machine, state="idle")
        yield line, op, motor, stop


async def _next(page, kind: str) -> dict:
    while True:
        message = await page.receive_json_from(timeout=10)
        if message["type"] == kind or (message["type"] == "error" and message.get("stream") in ("oee", "overview")):
            return message


async def test_the_oee_view_gets_the_shifts_figures_per_machine_and_the_lines(world):
    line, op, _, _ = world
    machine = line.config.machine
    page = await _open(op)
    await page.send_json_to({"action": "oee_subscribe", "line": machine.line_id})
    oee = await _next(page, "oee")
    await page.disconnect()
    expected = (await database_sync_to_async(machines_kpis)(machine_ids=[machine.pk], start=at(0), end=at(650)))[
        machine.pk
    ]
    assert oee["shift"]["name"] == "Early"
    assert oee["shift"]["start"] == round(at(0).timestamp() * 1000)
    [row] = oee["machines"]
    assert (row["id"], row["name"]) == (machine.pk, machine.name)
    assert row["availability"] == pytest.approx(expected.availability, abs=0.01)
    assert 0 < row["availability"] < 1  # the idle stop cost time
    assert oee["kpis"]["availability"] == pytest.approx(row["availability"])
    assert row["oee"] == pytest.approx(expected.oee, abs=0.005)  # the clock ticks between the two reads
    assert 0 < row["oee"] < 1
    assert oee["kpis"]["oee"] == pytest.approx(row["oee"])


async def test_classifying_a_stop_pushes_the_pareto_and_the_oee_again(world):
    line, op, motor, stop = world
    machine = line.config.machine
    pareto_page, oee_page = await _open(op), await _open(op)
    await pareto_page.send_json_to({"action": "pareto_subscribe", "line": machine.line_id, "range": "shift"})
    await oee_page.send_json_to({"action": "oee_subscribe", "line": machine.line_id})
    before = await _next(pareto_page, "pareto")
    await _next(oee_page, "oee")
    labels = {r["label"]: r for r in before["rows"]}
    assert labels["Unclassified"]["unclassified"] is True
    assert labels["Unclassified"]["minutes"] == pytest.approx(9.0, abs=0.1)  # 60 s to 600 s

    await database_sync_to_async(stop_classify)(interval_id=stop.pk, reason_id=motor.pk, user=op)
    after = await _next(pareto_page, "pareto")
    pushed_oee = await _next(oee_page, "oee")
    await pareto_page.disconnect()
    await oee_page.disconnect()
    by_label = {r["label"]: r for r in after["rows"]}
    assert "Unclassified" not in by_label
    assert by_label["Electrical / Motor"]["reason"] == motor.pk
    assert by_label["Electrical / Motor"]["minutes"] == pytest.approx(9.0, abs=0.1)
    expected = await database_sync_to_async(loss_pareto)(
        scope=Scope(ScopeKind.LINE, machine.line_id), start=at(0), end=at(700)
    )
    assert [r["label"] for r in after["rows"]] == [r.label for r in expected]
    assert pushed_oee["machines"][0]["id"] == machine.pk


async def test_the_stream_needs_the_plant_view_and_a_known_line(world):
    line, *_ = world
    engineer = await database_sync_to_async(lambda: UserFactory(username="engineer", role=Role.ENGINEER))()
    page = await _open(engineer)
    await page.send_json_to({"action": "pareto_subscribe", "line": 999999})
    assert (await _next(page, "pareto"))["message"] == "Unknown line: 999999"
    await page.send_json_to({"action": "pareto_subscribe", "line": line.config.machine.line_id, "range": "year"})
    assert "'range' must be" in (await _next(page, "pareto"))["message"]
    await page.send_json_to(
        {"action": "pareto_subscribe", "line": line.config.machine.line_id, "range": "dates", "first": "2026-03-02",
         "last": "2026-03-01"}
    )  # fmt: skip
    assert (await _next(page, "pareto"))["message"] == "The last date must not be before the first."
    await page.disconnect()


async def test_a_user_who_may_not_view_the_plant_gets_no_oee(world):
    from tests.alarms.conftest import grant

    line, *_ = world
    watcher = await database_sync_to_async(lambda: grant(UserFactory(username="w", role=None), "view_alarm"))()
    page = await _open(watcher)
    await page.send_json_to({"action": "oee_subscribe", "line": line.config.machine.line_id})
    error = await _next(page, "oee")
    assert error["type"] == "error"
    assert "may not view" in error["message"]
    await page.disconnect()


async def test_the_overview_cards_get_their_shift_oee_and_state_since_then_both_live(world):
    line, op, _, _ = world
    machine = line.config.machine
    page = await _open(op)
    await page.send_json_to({"action": "overview_subscribe", "machines": [machine.pk]})
    first = (await _next(page, "overview_production"))["machines"][str(machine.pk)]
    expected = (await database_sync_to_async(machines_kpis)(machine_ids=[machine.pk], start=at(0), end=at(650)))[
        machine.pk
    ]
    assert first["state"] == "running"
    assert first["since"] == int(at(600).timestamp() * 1000)
    assert first["oee"] == pytest.approx(expected.oee, rel=0.05)  # the clock ticks between the two computations

    await database_sync_to_async(line.store)(700, state=2)  # starved: the card's state and its since move
    pushed = (await _next(page, "overview_production"))["machines"][str(machine.pk)]
    assert (pushed["state"], pushed["since"]) == ("idle", int(at(700).timestamp() * 1000))

    await page.send_json_to({"action": "overview_subscribe", "machines": "all"})
    error = await _next(page, "error")
    assert error["stream"] == "overview"
    await page.disconnect()


async def test_overview_pages_of_the_same_machines_share_one_set_of_cards_and_each_gets_every_push(world):
    line, op, _, _ = world
    machine = line.config.machine
    pages = [await _open(op), await _open(op)]
    for page in pages:
        await page.send_json_to({"action": "overview_subscribe", "machines": [machine.pk]})
        assert (await _next(page, "overview_production"))["machines"][str(machine.pk)]["state"] == "running"
    shared = _cards_of_loop()
    assert list(shared) == [(machine.pk,)]
    assert len(shared[(machine.pk,)].sockets) == 2

    await database_sync_to_async(line.store)(700, state=2)  # one stop change: one computation, both pages
    for page in pages:
        pushed = (await _next(page, "overview_production"))["machines"][str(machine.pk)]
        assert (pushed["state"], pushed["since"]) == ("idle", int(at(700).timestamp() * 1000))

    await pages[0].disconnect()
    assert len(shared[(machine.pk,)].sockets) == 1
    await pages[1].disconnect()
    assert shared == {}  # the last page gone: its cards stop, their groups are left
