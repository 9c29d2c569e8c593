"""The test tree mirrors the source tree: tests/<path>/test_<module>.py (or test_<module>_<aspect>.py) tests
<path>/<module>.py or the package <path>/<module>/, so the tests of a module are found from its name alone."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# Test modules that test no single module, and why. A new entry needs as good a reason.
NOT_MIRRORED = {
    "api/test_production.py": "the production endpoints across api views, serializers and urls",
    "api/test_value_labels.py": "value labels across the API's current values, history and tag endpoints",
    "dashboards/test_chart_signal_browser.py": "step lines, units and shading in Chromium across the pages' scripts",
    "dashboards/test_fanout.py": "150 sockets on a real web process: consumers and common/fanout.py together",
    "dashboards/test_value_labels_browser.py": "labels on the machine page and overview in Chromium",
    "demo/simulator/test_writes.py": "the simulator following writes over Modbus, OPC UA and Sparkplug",
    "historian/services/tag_csv/test_value_labels.py": "the value label column: codecs, plan and apply",
    "ingest/acquisition/test_sparkplug_write.py": "Sparkplug commands through the host runner and the edge node",
    "production/test_browser.py": "the downtime, OEE and Pareto pages in Chromium",
    "maintenance/test_browser.py": "the machine health page in Chromium",
    "maintenance/test_end_to_end.py": "a real worker: scoring hook, alerting, alarms, work request and PLC write",
    "production/test_oee_stream.py": "the OEE and Pareto streams of production/consumers.py with the queries",
    "test_tree.py": "checks the test tree itself",
    "deploy/test_files.py": "the deploy/ files (compose, Kubernetes manifests, Dockerfile): no Python module there",
    "test_walking_skeleton.py": "end to end: Celery worker, poll, store, WebSocket, across every app",
    "test_procfile.py": "the Procfile's processes",
    "test_security_headers.py": "headers and CSP on every page, in Chromium too",
    "test_accessibility_browser.py": "axe-core over every page and keyboard use of the alarm list and explorer",
    "test_responsive_browser.py": "every page at tablet and phone widths in Chromium (static/css/responsive.css)",
    "test_i18n.py": "every template's text marked for translation; the German catalogs complete and compiled",
    "test_i18n_browser.py": "the overview and the alarm list in German in Chromium: texts, decimal comma, zone",
    "test_themes.py": "the colour tokens of static/css/tokens.css: contrast and colour-blind distances",
    "test_themes_browser.py": "the charts drawn in each theme's colours (static/css/tokens.css) in Chromium",
    "accounts/test_login_throttling.py": "django-axes settings, the lockout signal and its audit event together",
    "accounts/test_permission_matrix.py": "every role against every URL and WebSocket route",
    "alarms/test_browser.py": "the alarm page end to end in two browsers",
    "alarms/services/test_string_tag_alarms.py": "string tags through definitions and evaluation",
    "api/test_contract.py": "schemathesis findings: the schema and every view agree",
    "api/test_schema.py": "schemathesis over every operation of the OpenAPI schema",
    "api/test_string_tags.py": "string tags through every API read",
    "api/test_tokens.py": "API tokens: service, authentication and the tokens page together",
    "audit/test_auth_changes.py": "django-auditlog registrations and the password receiver together",
    "dashboards/test_browser.py": "the plant pages end to end in Chromium",
    "dashboards/test_explorer.py": "the trend explorer page: view and its JSON endpoint",
    "dashboards/test_explorer_browser.py": "the trend explorer end to end in Chromium",
    "dashboards/test_kiosk_browser.py": "the wall screen: kiosk view, role, cycling and reconnection in Chromium",
    "dashboards/test_overview_glance_browser.py": "the overview's states, alarms, sparklines and line summaries",
    "dashboards/test_quick_trend_browser.py": "a value's quick trend from the overview, machine page and alarms",
    "dashboards/test_explorer_state_band_browser.py": "a labelled tag's state band in the explorer, in Chromium",
    "dashboards/test_machine_trend_browser.py": "the machine page's trend end to end in Chromium",
    "dashboards/test_quality_browser.py": "quality shown on every page, in Chromium",
    "dashboards/test_socket_browser.py": "static/js/lib/socket.js in Chromium against a real server",
    "dashboards/test_string_tags.py": "string tags on every plant page",
    "demo/simulator/test_main.py": "demo/simulator/__main__.py (a dunder name)",
    "historian/queries/test_text_history.py": "string tags through every history query",
    "ingest/test_faults.py": "fault injection across acquisition, pipeline and protocols",
    "timescale/test_backend.py": "the whole project on a real TimescaleDB (the harness's own suite)",
    "timescale/test_server.py": "the TimescaleDB test harness (tests/timescale/)",
}


def _mirrors(test: Path) -> bool:
    """True when tests/<path>/test_<a>_<b>.py has a module or package <path>/<a>_<b> or <path>/<a>."""
    folder = ROOT / test.relative_to(TESTS).parent
    words = test.stem.removeprefix("test_").split("_")
    for end in range(len(words), 0, -1):
        name = "_".join(words[:end])
        if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
            return True
    return False


def test_every_test_module_is_named_after_the_module_it_tests():
    unmirrored = {str(t.relative_to(TESTS)) for t in TESTS.rglob("test_*.py") if not _mirrors(t)}
    stray = sorted(unmirrored - NOT_MIRRORED.keys())
    assert not stray, f"name these after the module they test, or add them to NOT_MIRRORED with a reason: {stray}"
    stale = sorted(NOT_MIRRORED.keys() - unmirrored)
    assert not stale, f"these now mirror a module (or are gone): remove them from NOT_MIRRORED: {stale}"
