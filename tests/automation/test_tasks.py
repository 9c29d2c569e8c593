"""End to end through a real Celery worker: its poller stores the plant's values, the rule evaluation hook (in the
worker) sees its condition hold, journals the firing and queues it; the worker runs the firing task, which writes
the simulator's speed setpoint through the write policy as the rule; read back confirmed, journalled, audited."""

import pytest

from accounts.services.roles import Role
from audit.models import AuditAction, AuditEvent
from automation.models import Rule, RuleFiring
from automation.services.rules import rule_save
from historian.models import ConfirmationMode, Machine, WritePolicy
from ingest.services.writes import device_writes_set
from tests.factories import UserFactory
from tests.test_walking_skeleton import celery_worker_process  # noqa: F401  (the real worker)
from tests.waiting import wait_until

pytestmark = [pytest.mark.celery, pytest.mark.slow]


def test_a_rule_fires_in_a_real_worker_and_writes_to_the_simulator(transactional_db, demo_plant, plant_server, request):
    admin = UserFactory(username="admin", role=Role.ADMINISTRATOR)
    machine = Machine.objects.get(name="CNC 101")
    setpoint = machine.tags.get(path__endswith=".speed_setpoint")
    vibration = machine.tags.get(path__endswith=".vibration_rms")
    device_writes_set(device=setpoint.device, enabled=True, user=admin)
    WritePolicy.objects.create(tag=setpoint, min_value=0, max_value=3000, confirmation=ConfirmationMode.DIRECT)
    rule = Rule(
        name="Set the spindle",
        enabled=True,
        dry_run=False,
        run_as=admin,
        cooldown_seconds=3600,
        condition={"type": "tag", "tag": vibration.path, "comparison": ">=", "value": 0, "for_seconds": 2},
        actions=[{"type": "write", "tag": setpoint.path, "value": 1234}],
    )
    rule_save(rule=rule, user=admin)
    sim = next(m for m in plant_server.plant.all_machines() if m.name == "L1-M1")

    request.getfixturevalue("celery_worker_process")

    def done() -> RuleFiring | None:
        return RuleFiring.objects.filter(rule=rule, done_at__isnull=False).exclude(outcomes=[]).first()

    firing = wait_until(done, timeout=90, what="the rule to fire and its action to run in the worker")
    assert (firing.version, firing.dry_run) == (1, False)
    assert firing.values["value"] >= 0
    outcome = firing.outcomes[0]
    assert (outcome["action"], outcome["state"], outcome["confirmed"]) == ("write", "executed", True), outcome
    assert sim.operator_setpoint == pytest.approx(1234.0)
    event = AuditEvent.objects.filter(action=AuditAction.PLC_WRITE, target=setpoint.path).get()
    assert event.details["by_rule"] == "rule Set the spindle v1"
    assert event.details["read_back"] == pytest.approx(1234.0)
    assert RuleFiring.objects.filter(rule=rule).count() == 1  # held on, but once per episode
