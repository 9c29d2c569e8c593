"""The demo's "start a second, unknown Sparkplug edge node and see the security alarm": the command publishes as an
unconfigured edge node through a real Mosquitto, and the demo's Sparkplug host reports it (and not the demo's own,
configured edge node); the security alarm it raises shows, with its evidence, on the alarm list and in the banner of
an administrator, and nowhere for an operator (real pages in headless Chromium)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from django.core.management import call_command

from accounts.services.roles import Role
from alarms.models import Alarm, AlarmCategory
from demo.plant import demo_plant_load
from demo.simulator.sparkplug_plant import SPARKPLUG_GROUP, serve_plant_sparkplug, sparkplug_edge_node_id
from ingest.acquisition.sparkplug_host import SparkplugRunner
from ingest.protocols.sparkplug.session import BrokerSettings
from inventory.models import Asset
from inventory.security_events import SecurityEventKind
from tests.browser import CHROMIUM, BrowserThread
from tests.demo import test_plant
from tests.factories import UserFactory
from tests.security_events import Collected, security_events_collected
from tests.simulated_plant import plant_simulator
from tests.waiting import step_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

broker = test_plant.broker  # a private Mosquitto
event_loop_thread = test_plant.event_loop_thread  # the simulator's loop, for the demo's own edge node

UNKNOWN = SecurityEventKind.UNKNOWN_EDGE_NODE


@pytest.fixture
def events() -> Iterator[Collected]:
    with security_events_collected() as received:
        yield received


def _rogue_reported(broker, event_loop_thread, events: Collected) -> None:
    """The demo's Sparkplug host and edge node running, then `demo_rogue_edge_node` until it is reported."""
    demo_plant_load(lines=1, machines_per_line=1, sparkplug_broker=(broker.host, broker.port), sparkplug_line=1)
    runner = SparkplugRunner(flush_seconds=0.05, rebirth_seconds=0.0)
    runner.step()
    assert runner.session(BrokerSettings(broker.host, broker.port)).wait_connected(10)
    plant = plant_simulator(lines=1, machines_per_line=1, seed=7)
    own = asyncio.run_coroutine_threadsafe(
        serve_plant_sparkplug(host=broker.host, port=broker.port, plant=plant, line_index=0), event_loop_thread
    )
    own_key = f"{SPARKPLUG_GROUP}/{sparkplug_edge_node_id(0)}"
    command = threading.Thread(
        target=call_command,
        args=["demo_rogue_edge_node", "--mqtt-broker", f"{broker.host}:{broker.port}"],
        kwargs={"seconds": 3, "interval": 0.2},
    )

    def rogue_reported() -> bool:
        assert not own.done(), own.exception()
        own_heard = Asset.objects.filter(key=own_key).exists()
        if own_heard and command.ident is None:
            command.start()  # once the demo's own node is heard
        return own_heard and bool(events.of(UNKNOWN))

    try:
        step_until(
            runner.step, rogue_reported, timeout=30, what="the demo's own node heard and an unknown one reported"
        )
        command.join(30)
    finally:
        runner.shutdown()
        own.cancel()


def test_the_rogue_edge_node_command_raises_an_unknown_edge_node_event_on_the_demos_host(
    db, broker, event_loop_thread, events, capsys
):
    _rogue_reported(broker, event_loop_thread, events)

    assert [e.subject for e in events.of(UNKNOWN)] == [f"sparkplug:{SPARKPLUG_GROUP}/Rogue1"]  # not the demo's own
    event = events.of(UNKNOWN)[0]
    assert event.evidence["metrics"] == ["Pump/Speed", "Valve/Open"]
    assert event.evidence["broker"] == f"mqtt://{broker.host}:{broker.port}"
    assert "unconfigured Sparkplug B edge node MillwrightDemo/Rogue1" in capsys.readouterr().out


@pytest.fixture
def browsers() -> Iterator[tuple[BrowserThread, BrowserThread]]:
    first, second = BrowserThread(), BrowserThread()
    yield first, second
    first.close()
    second.close()


def _signed_in(url: str, username: str, path: str) -> Callable[[Page], None]:
    def run(page: Page) -> None:
        page.goto(f"{url}{path}")
        page.fill("#id_username", username)
        page.fill("#id_password", f"pw-{username}-1")
        page.click("button[type=submit]")
        page.wait_for_url(f"**{path}")
        page.wait_for_selector("#alarm-table[data-ready=true]", timeout=10_000)

    return run


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_the_rogue_edge_nodes_security_alarm_shows_to_an_administrator_and_not_to_an_operator(
    live_asgi, broker, event_loop_thread, events, browsers
):
    _rogue_reported(broker, event_loop_thread, events)

    alarm = Alarm.objects.select_related("definition").get(definition__category=AlarmCategory.SECURITY)
    assert alarm.definition.source == f"unknown_edge_node:sparkplug:{SPARKPLUG_GROUP}/Rogue1"
    assert alarm.evidence["evidence"]["edge_node"] == "Rogue1"
    assert alarm.evidence["evidence"]["metrics"] == ["Pump/Speed", "Valve/Open"]

    administrator, operator = browsers
    UserFactory(username="administrator", role=Role.ADMINISTRATOR)
    UserFactory(username="operator", role=Role.OPERATOR)
    row = f'tr.alarm[data-alarm="{alarm.pk}"]'

    def administrator_sees(page: Page) -> tuple[str, str, str | None, str, str]:
        page.wait_for_selector(row, timeout=10_000)
        page.click(f"{row} details summary")
        return (
            page.inner_text(row),
            page.inner_text(f"{row} pre.alarm-evidence"),
            page.get_attribute("#alarm-security", "data-count"),
            page.input_value("#filter-category"),
            page.inner_text("#alarm-banner"),
        )

    administrator.run(_signed_in(live_asgi.url, "administrator", "/alarms/?category=security"))
    text, evidence, count, category, banner = administrator.run(administrator_sees)
    assert "Unknown Sparkplug edge node MillwrightDemo/Rogue1" in text
    assert '"edge_node": "Rogue1"' in evidence
    assert (count, category) == ("1", "security")
    assert "security" in banner.lower()

    def operator_sees(page: Page) -> tuple[int, int, str]:
        page.wait_for_timeout(500)  # the snapshot came with the table's data-ready: nothing more is on its way
        return page.locator("tr.alarm").count(), page.locator("#alarm-security").count(), page.content()

    operator.run(_signed_in(live_asgi.url, "operator", "/alarms/"))
    rows, security_links, html = operator.run(operator_sees)
    assert (rows, security_links) == (0, 0)
    assert "Rogue1" not in html

    def detail_status(page: Page) -> int:
        response = page.goto(f"{live_asgi.url}/alarms/{alarm.pk}/")
        assert response is not None
        return response.status

    assert operator.run(detail_status) == 404
    assert administrator.run(detail_status) == 200
