"""The production admin: the configuration pages open, the rebuild action rebuilds, overlaps are refused."""

import pytest
from django.urls import reverse

from production.models import MachineState, StateInterval, StateMapping
from tests.production.conftest import at


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
        "stateinterval",
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


def test_an_overlapping_interval_entered_in_the_admin_is_refused_with_a_clear_error(admin_client, line):
    line.store(0, state=1)
    line.store(60, state=6)

    response = admin_client.post(
        reverse("admin:production_stateinterval_add"),
        {
            "machine": line.config.machine_id,
            "start_0": "2026-03-01",
            "start_1": "06:00:30",
            "end_0": "2026-03-01",
            "end_1": "06:05:00",
            "state": MachineState.SETUP,
            "comment": "",
        },
    )

    assert response.status_code == 200
    assert "This interval overlaps another state interval of the same machine." in response.content.decode()
    assert StateInterval.objects.filter(machine=line.config.machine).count() == 2
    assert at(60) == StateInterval.objects.get(machine=line.config.machine, end=None).start
