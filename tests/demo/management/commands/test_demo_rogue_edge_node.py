"""The demo's "start a second, unknown Sparkplug edge node and see the security alarm": the command publishes as an
unconfigured edge node through a real Mosquitto, and the demo's Sparkplug host reports it (and not the demo's own,
configured edge node)."""

import asyncio
import threading
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from demo.plant import demo_plant_load
from demo.simulator.plant import PlantSimulator
from demo.simulator.sparkplug_plant import SPARKPLUG_GROUP, serve_plant_sparkplug, sparkplug_edge_node_id
from ingest.acquisition.sparkplug_host import SparkplugRunner
from ingest.protocols.sparkplug.session import BrokerSettings
from inventory.models import Asset
from inventory.security_events import SecurityEventKind
from tests.demo import test_plant
from tests.security_events import Collected, security_events_collected
from tests.waiting import step_until

broker = test_plant.broker  # a private Mosquitto
event_loop_thread = test_plant.event_loop_thread  # the simulator's loop, for the demo's own edge node

UNKNOWN = SecurityEventKind.UNKNOWN_EDGE_NODE


@pytest.fixture
def events() -> Iterator[Collected]:
    with security_events_collected() as received:
        yield received


def test_the_rogue_edge_node_command_raises_an_unknown_edge_node_event_on_the_demos_host(
    db, broker, event_loop_thread, events, capsys
):
    demo_plant_load(lines=1, machines_per_line=1, sparkplug_broker=(broker.host, broker.port), sparkplug_line=1)
    runner = SparkplugRunner(flush_seconds=0.05, rebirth_seconds=0.0)
    runner.step()
    assert runner.session(BrokerSettings(broker.host, broker.port)).wait_connected(10)
    plant = PlantSimulator(lines=1, machines_per_line=1, seed=7)
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

    assert [e.subject for e in events.of(UNKNOWN)] == [f"sparkplug:{SPARKPLUG_GROUP}/Rogue1"]  # not the demo's own
    event = events.of(UNKNOWN)[0]
    assert event.evidence["metrics"] == ["Pump/Speed", "Valve/Open"]
    assert event.evidence["broker"] == f"mqtt://{broker.host}:{broker.port}"
    assert "unconfigured Sparkplug B edge node MillwrightDemo/Rogue1" in capsys.readouterr().out
