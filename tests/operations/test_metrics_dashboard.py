"""The Grafana dashboard in deploy/ parses and asks only for metrics the endpoint exposes (a renamed metric fails
here, not on a plant's wall screen)."""

import json
import re
from pathlib import Path

from operations.metrics import EXPOSED
from tests.operations.test_metrics import exposed_names

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "millwright.json"
METRIC = re.compile(r"\bmillwright_[a-z0-9_]+")


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_parses_and_every_panel_queries_something():
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["panels"]
    assert all(panel.get("targets") for panel in dashboard["panels"])


def test_the_dashboard_asks_only_for_metrics_the_endpoint_exposes(db):
    asked = {name for expr in _expressions() for name in METRIC.findall(expr)}

    assert asked
    assert asked <= exposed_names(), f"not exposed by /metrics: {sorted(asked - exposed_names())}"
    assert asked <= set(EXPOSED)
