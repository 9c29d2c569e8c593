"""The production admin: the configuration pages open, the rebuild action rebuilds, intervals are read-only."""

import pytest
from django.urls import reverse

from production.models import MachineState, StateInterval, StateMapping


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-root-1"))
    return client


@pytest.mark.parametrize(
    "model",
    [
        "machineproduction",
        "product",
        "shiftcalendar",
        "shiftpattern",
        "downtimecategory",
        "downtimereason",
        "faultcode",
    ],
)
def test_each_production_admin_page_opens(admin_client, line, model):
    assert admin_client.get(reverse(f"admin:production_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:production_{model}_add")).status_code == 200


def test_the_rebuild_action_applies_a_changed_state_mapping(admin_client, line):
    line.store(0, state=1)
    line.store(60, state=5)
    StateMapping.objects.filter(machine_production=line.config, value=5).update(state=MachineState.IDLE)

    response = admin_client.post(
        reverse("admin:production_machineproduction_changelist"),
        {"action": "rebuild_intervals", "_selected_action": [line.config.pk]},
        follow=True,
    )

    assert "2 state intervals rebuilt from history" in response.content.decode()
    assert [iv[2] for iv in line.intervals()] == [MachineState.RUNNING, MachineState.IDLE]


def test_intervals_are_read_only_in_the_admin(admin_client, line):
    """Derived from history and classified through the audited downtime services, never edited as rows."""
    line.store(0, state=1)
    line.store(60, state=6)
    interval = StateInterval.objects.get(machine=line.config.machine, end=None)

    assert admin_client.get(reverse("admin:production_stateinterval_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:production_stateinterval_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:production_stateinterval_change", args=[interval.pk]),
        {"machine": line.config.machine_id, "state": MachineState.SETUP, "comment": "edited"},
    )
    assert response.status_code == 403
    interval.refresh_from_db()
    assert (interval.state, interval.comment) == (MachineState.UNPLANNED_DOWN, "")
    assert admin_client.post(reverse("admin:production_stateinterval_delete", args=[interval.pk])).status_code == 403
    assert StateInterval.objects.filter(machine=line.config.machine).count() == 2
