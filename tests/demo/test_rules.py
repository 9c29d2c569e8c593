"""The demo ships its rule in dry run, visible in admin; loading it again makes no new version; its firings show
what it would do."""

from datetime import UTC, datetime, timedelta

from automation.models import Rule, RuleFiring
from automation.services.evaluation import RuleEvaluation
from demo.rules import RULE_NAME, VIBRATION_HIHI, demo_rules_load
from historian.models import Tag
from historian.sample_types import SampleRow


def test_the_demo_rule_is_shipped_in_dry_run_and_loads_idempotently(demo_plant):
    rule = demo_rules_load()
    assert rule is not None
    assert (rule.enabled, rule.dry_run, rule.version) == (True, True, 1)
    assert demo_rules_load().version == 1
    assert Rule.objects.get(name=RULE_NAME).versions.count() == 1


def test_the_demo_rule_journals_that_it_would_stop_the_machine(demo_plant, admin_client):
    demo_rules_load()
    vibration = Tag.objects.get(path__endswith="CNC 102.vibration_rms")
    command = Tag.objects.get(path__endswith="CNC 102.command")
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    rows = [SampleRow(t0 + timedelta(seconds=s), vibration.pk, VIBRATION_HIHI + 1, 192) for s in range(31)]
    RuleEvaluation()(rows=rows, now=rows[-1].time)

    firing = RuleFiring.objects.get()
    assert firing.dry_run
    assert firing.outcomes[0]["message"] == f"would write 2 to {command.path}"
    listing = admin_client.get("/admin/automation/rulefiring/")
    assert listing.status_code == 200
    assert RULE_NAME in listing.content.decode()
    assert RULE_NAME in admin_client.get("/admin/automation/rule/").content.decode()
