"""End to end through a real worker: a real `celery worker --acquisition` polls the simulated plant, its after-store
hook fits CNC 102's health model from the first half minute, scores it, raises the explained alarm and opens one
work request when the machine departs from normal; closing the request writes "maintenance done" to the PLC."""

import pytest
from django.utils import timezone

from alarms.models import Alarm
from demo.maintenance import demo_maintenance_load
from demo.simulator.plant import MachineCommand
from maintenance.models import HealthModel, MaintenanceRequest
from maintenance.services.requests import request_close
from tests.factories import UserFactory
from tests.test_walking_skeleton import celery_worker_process  # noqa: F401  (the real worker fixture)
from tests.waiting import wait_until

pytestmark = [pytest.mark.celery, pytest.mark.slow]


@pytest.fixture
def quick_model(transactional_db, demo_plant, monkeypatch):
    """CNC 102's demo model at test pace (the worker reads these settings from its environment)."""
    monkeypatch.setenv("MAINTENANCE_SCORE_SECONDS", "1")
    monkeypatch.setenv("MAINTENANCE_FIT_RETRY_SECONDS", "2")
    admin = UserFactory(superuser=True)
    model = demo_maintenance_load(admin=admin)
    assert model is not None
    HealthModel.objects.filter(pk=model.pk).update(
        auto_train_minutes=0.5,
        sample_seconds=1.0,
        running_only=False,
        score_high_minutes=0.0,
    )
    return model, admin


def test_a_machine_leaving_normal_running_raises_one_explained_alert_and_one_request(
    quick_model,
    plant_server,
    celery_worker_process,  # noqa: F811
):
    model, admin = quick_model
    # Trained on what follows the worker's start (before it, nothing was polled).
    HealthModel.objects.filter(pk=model.pk).update(training_start=timezone.now())
    wait_until(
        lambda: HealthModel.objects.get(pk=model.pk).current_version_id is not None,
        timeout=120,
        what="the worker to fit CNC 102's model from its first half minute",
    )
    machine = plant_server.plant.machine_named("L1-M2")
    machine.command(MachineCommand.STOP)  # spindle stopped: current and vibration far from normal running

    request = wait_until(
        lambda: MaintenanceRequest.objects.filter(machine=model.machine).first(),
        timeout=120,
        what="the health monitor to open a work request",
    )
    assert request.by_monitor
    assert "σ" in request.evidence["explanation"]
    alarm = wait_until(
        lambda: Alarm.objects.filter(definition__tag=model.alert_tag, state="unack_active").first(),
        timeout=30,
        what="the maintenance alarm",
    )
    assert alarm.message.startswith("CNC 102: spindle bearing maintenance due")
    assert request.evidence["explanation"] in alarm.message

    request_close(request_id=request.pk, user=admin, note="Bearing replaced")

    assert machine.last_command == MachineCommand.MAINTENANCE  # written to the PLC, read back before returning
    assert MaintenanceRequest.objects.count() == 1  # once, not once per batch
