"""The work request action: a rule opens one maintenance request per machine and component, as its person (whose
right to work on requests there is checked), with the firing's values as evidence; a wrong machine is refused when
the rule is saved."""

import pytest
from django.core.exceptions import ValidationError

from automation.evaluator import Firing
from automation.models import Rule
from automation.services.firings import firing_record, firing_run
from automation.services.rules import rule_compile, rule_save
from historian.sample_types import datetime_to_us
from maintenance.models import MaintenanceRequest, RequestStatus
from tests.automation.conftest import T0


def _rule(vibration, person, machine: str) -> Rule:
    return Rule(
        name="Bearing check",
        enabled=True,
        dry_run=False,
        run_as=person,
        cooldown_seconds=0,
        condition={"type": "tag", "tag": vibration.path, "comparison": ">", "value": 9.0, "for_seconds": 30},
        actions=[{"type": "work_request", "machine": machine, "component": "bearing", "title": "Check the bearing"}],
    )


def _fire_and_run(rule: Rule) -> list[dict]:
    firing = firing_record(rule=rule_compile(rule), firing=Firing(datetime_to_us(T0), {"value": 9.5}))
    return firing_run(firing_id=firing.pk)


def test_a_firing_opens_one_request_per_machine_and_component_with_its_evidence(vibration, admin):
    machine = vibration.machine
    rule = _rule(vibration, admin, f"{machine.line.name}/{machine.name}")
    rule_save(rule=rule, user=admin)

    first = _fire_and_run(rule)
    again = _fire_and_run(rule)

    request = MaintenanceRequest.objects.get()
    assert (request.machine, request.component, request.status) == (machine, "bearing", RequestStatus.OPEN)
    assert request.evidence["rule"] == "Bearing check"
    assert request.evidence["values"] == {"value": 9.5}
    assert first[0]["state"] == "opened"
    assert again[0]["state"] == "already"
    assert again[0]["message"] == f"request #{request.pk} is still open"


@pytest.mark.django_db
def test_a_rule_naming_no_machine_is_not_saved(vibration, admin):
    with pytest.raises(ValidationError, match="no machine 'Nowhere/CNC 999'"):
        rule_save(rule=_rule(vibration, admin, "Nowhere/CNC 999"), user=admin)


def test_the_rules_person_needs_the_right_to_work_on_requests_there(vibration, admin):
    from accounts.services.roles import Role
    from tests.factories import UserFactory

    machine = vibration.machine
    rule = _rule(vibration, admin, machine.name)
    rule_save(rule=rule, user=admin)
    rule.run_as = UserFactory(role=Role.OPERATOR)  # no maintenance area granted
    rule.save()

    outcome = _fire_and_run(rule)

    assert outcome[0]["state"] == "failed"
    assert "may not work on maintenance requests" in outcome[0]["message"]
    assert not MaintenanceRequest.objects.exists()
