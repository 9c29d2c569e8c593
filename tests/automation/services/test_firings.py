"""A firing's actions against the real Modbus plant simulator: the write goes through the tag's write policy with
the rule (and its version) as the requester, read back, journalled and audited; a policy a person must confirm
refuses a rule; a dry run does nothing."""

import pytest

from audit.models import AuditAction, AuditEvent
from automation.evaluator import Firing
from automation.models import Rule, RuleFiring
from automation.services.firings import firing_record, firing_run
from automation.services.rules import rule_compile, rule_save
from historian.models import ConfirmationMode, WritePolicy, WriteRequest
from historian.sample_types import datetime_to_us
from ingest.services.writes import device_writes_set
from tests.automation.conftest import T0


@pytest.fixture
def setpoint(machine):
    return machine.tags.get(path__endswith=".speed_setpoint")


@pytest.fixture
def sim_machine(plant_server, machine):
    line, number = machine.name.removeprefix("CNC ")[0], int(machine.name[-2:])
    return next(m for m in plant_server.plant.all_machines() if m.name == f"L{line}-M{number}")


@pytest.fixture
def write_rule(device, setpoint, admin) -> Rule:
    device_writes_set(device=device, enabled=True, user=admin)
    WritePolicy.objects.create(tag=setpoint, min_value=0, max_value=3000, confirmation=ConfirmationMode.DIRECT)
    vibration = setpoint.machine.tags.get(path__endswith=".vibration_rms")
    rule = Rule(
        name="Slow down on vibration",
        enabled=True,
        dry_run=False,
        run_as=admin,
        cooldown_seconds=0,
        condition={"type": "tag", "tag": vibration.path, "comparison": ">", "value": 9.0, "for_seconds": 30},
        actions=[{"type": "write", "tag": setpoint.path, "value": 1234}],
    )
    rule_save(rule=rule, user=admin)
    return rule


def _fire(rule: Rule) -> RuleFiring:
    return firing_record(rule=rule_compile(rule), firing=Firing(datetime_to_us(T0), {"value": 9.5}))


def test_a_firing_writes_through_the_policy_as_the_rule_and_is_journalled_and_audited(
    write_rule, setpoint, sim_machine, admin
):
    firing = _fire(write_rule)
    assert firing.done_at is None  # queued for a worker

    outcomes = firing_run(firing_id=firing.pk)

    assert outcomes[0]["state"] == "executed", outcomes
    assert outcomes[0]["confirmed"] is True
    assert sim_machine.operator_setpoint == pytest.approx(1234.0)
    firing.refresh_from_db()
    assert firing.outcomes == outcomes
    assert firing.done_at is not None
    request = WriteRequest.objects.get(pk=outcomes[0]["request"])
    assert request.requested_via == "rule Slow down on vibration v1"
    event = AuditEvent.objects.filter(action=AuditAction.PLC_WRITE).order_by("-id").first()
    assert event.actor == admin
    assert event.details["by_rule"] == "rule Slow down on vibration v1"
    assert event.details["read_back"] == pytest.approx(1234.0)
    assert firing_run(firing_id=firing.pk) == []  # run once: a second delivery finds it done


def test_a_rule_never_writes_a_tag_a_person_must_confirm(write_rule, setpoint, sim_machine):
    WritePolicy.objects.filter(tag=setpoint).update(confirmation=ConfirmationMode.ARM)
    before = sim_machine.operator_setpoint

    outcomes = firing_run(firing_id=_fire(write_rule).pk)

    assert (outcomes[0]["state"], outcomes[0]["rule"]) == ("refused", "confirmation_required")
    assert sim_machine.operator_setpoint == before
    event = AuditEvent.objects.filter(action=AuditAction.PLC_WRITE_REFUSED).order_by("-id").first()
    assert event.details["by_rule"] == "rule Slow down on vibration v1"
    assert event.details["rule"] == "confirmation_required"


def test_a_rule_is_refused_what_its_person_may_not_do(write_rule, setpoint, sim_machine, make_user):
    write_rule.run_as = make_user("op-elsewhere")  # an operator granted no area
    rule_save(rule=write_rule, user=None)
    outcomes = firing_run(firing_id=_fire(write_rule).pk)
    assert (outcomes[0]["state"], outcomes[0]["rule"]) == ("refused", "permission")


def test_a_dry_run_firing_does_nothing_and_says_what_it_would_do(write_rule, setpoint, sim_machine):
    write_rule.dry_run = True
    rule_save(rule=write_rule, user=None)
    before = sim_machine.operator_setpoint
    firing = _fire(write_rule)
    assert firing.done_at is not None
    assert firing.outcomes[0]["message"] == f"would write 1234 to {setpoint.path}"
    assert firing_run(firing_id=firing.pk) == []
    assert sim_machine.operator_setpoint == before
