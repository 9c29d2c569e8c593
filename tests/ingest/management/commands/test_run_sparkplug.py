"""`manage.py run_sparkplug` as the Procfile runs it: births reach the database, SIGTERM stops it cleanly."""

import pytest

from historian.models import DiscoveredMetric, Protocol
from ingest.protocols.sparkplug.codec import DataType
from ingest.protocols.sparkplug.edge import SparkplugEdgeNode
from tests.factories import DeviceFactory
from tests.waiting import wait_until


@pytest.mark.slow
def test_run_sparkplug_discovers_edge_nodes_and_stops_on_sigterm(manage_py, broker):
    DeviceFactory(name="Broker", protocol=Protocol.SPARKPLUG, host=broker.host, port=broker.port)
    manage_py.start("run_sparkplug", "--flush-ms", "100")
    edge = SparkplugEdgeNode(
        host=broker.host, port=broker.port, group_id="G", edge_node_id="E", node_metrics={"Speed": DataType.DOUBLE}
    )

    def birth_recorded() -> bool:
        manage_py.running()
        if DiscoveredMetric.objects.filter(name="Speed", device__sparkplug_edge_node_id="E").exists():
            return True
        edge.publish_births()  # until the command has subscribed
        return False

    try:
        edge.connect()
        wait_until(birth_recorded, timeout=30, what="a birth recorded by the command", interval=0.3)
        assert manage_py.sigterm().strip().splitlines()[-1] == "Sparkplug B host stopped"
    finally:
        edge.disconnect(send_death=False)
