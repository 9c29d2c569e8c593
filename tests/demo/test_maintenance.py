"""The demo's predictive maintenance: CNC 102's health model and the write policy of its maintenance command."""

from datetime import timedelta

import numpy as np
import pytest
from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent
from demo.maintenance import DEMO_PACE, SIGNALS, demo_maintenance_load
from demo.simulator.plant import MachineState, PlantSimulator
from demo.simulator.wear import DEMO_WEAR, FailureMode
from historian.models import Device
from maintenance.health.alerting import assess, sensor_screen
from maintenance.health.explain import explain, explanation_text
from maintenance.health.pca import pca_fit, pca_reconstruct
from maintenance.models import HealthModel
from maintenance.services.scoring import STUCK_SAMPLES, alert_policy
from tests.factories import UserFactory
from tests.simulated_plant import NO_BREAKS


@pytest.fixture
def admin(db):
    return UserFactory(superuser=True)


def test_cnc_102_gets_a_health_model_and_a_maintenance_command_it_may_write(demo_plant, admin):
    model = demo_maintenance_load(admin=admin)

    assert model is not None
    assert model.machine.name == "CNC 102"
    assert sorted(t.path.rsplit(".", 1)[1] for t in model.signals.all()) == sorted(SIGNALS)
    assert model.current_version is None  # fitted from its first minutes of running
    assert model.score_tag is not None
    assert model.score_tag.device.protocol == "derived"
    assert model.maintenance_command_tag is not None
    assert (model.maintenance_command_tag.name, model.maintenance_command_value) == ("Command", 4.0)
    assert model.maintenance_command_tag.write_policy.confirmation == "direct"
    assert Device.objects.get(pk=model.maintenance_command_tag.device_id).writes_enabled


def test_loading_again_keeps_the_model(demo_plant, admin):
    first = demo_maintenance_load(admin=admin)
    assert demo_maintenance_load(admin=admin) == first
    assert HealthModel.objects.count() == 1


def test_loading_again_rebaselines_the_model_for_the_new_run_of_the_simulator(demo_plant, admin):
    model = demo_maintenance_load(admin=admin)
    assert model is not None
    HealthModel.objects.filter(pk=model.pk).update(alerted_at=timezone.now() - timedelta(hours=1))
    started = timezone.now()

    again = demo_maintenance_load(admin=admin)

    assert again is not None
    assert again.alerted_at is None  # free to alert again in this run
    assert again.current_version is None  # fitted on this run's first minutes
    assert again.training_start is not None
    assert again.training_start >= started
    assert AuditEvent.objects.filter(action="health_model_rebaseline", details__reason="demo started").exists()


def test_a_visitor_sees_the_explained_alert_minutes_before_cnc_102_fails():
    """The demo's first minutes played through the health numerics, as the scoring hook runs them: the simulator
    with DEMO_WEAR (the demo's seed and plant), the model trained on the first minutes of CNC 102's running at the
    demo's pace, scored every MAINTENANCE_SCORE_SECONDS on the last readings. The alert comes within the ~10 minutes
    a visitor watches (less the demo's start and the fit's retry), minutes before the true failure."""
    plant = PlantSimulator(3, 3, seed=1, wear=DEMO_WEAR, calendar=NO_BREAKS)
    machine = plant.machine_named("L1-M2")
    failure_at = machine.wear_model.parts[FailureMode.BEARING].failure_at
    assert 10 * 60 < failure_at < 20 * 60  # the demo's bearing fails ~12-15 minutes in
    pace = HealthModel(**DEMO_PACE)
    policy = alert_policy(pace)
    step = pace.sample_seconds
    score_every = round(settings.MAINTENANCE_SCORE_SECONDS / step)
    plant.step(0.0)
    rows: list[list[float]] = []
    training: list[list[float]] = []
    model = None
    history: list[tuple[float, float, float]] = []
    alert_at = None
    for k in range(1, int(failure_at / step)):
        plant.step(k * step)
        readings = machine.wear_model.readings(plant.time, machine._true_values())
        rows.append([readings[name] for name in SIGNALS])
        running = machine.state == MachineState.RUNNING
        if model is None:
            if running:
                training.append(rows[-1])
            if len(training) * step >= pace.auto_train_minutes * 60:
                model = pca_fit(np.asarray(training), SIGNALS, drop_nonfinite=True)
            continue
        if not running or k % score_every:
            continue
        recent = np.asarray(rows[-STUCK_SAMPLES:])
        screened = sensor_screen(model, recent, policy)
        history.append((plant.time / 3600, screened.scores.health[-1], screened.scores.health_corroborated[-1]))
        t, h, c = np.asarray(history).T
        if assess(policy, t, h, c, now_h=plant.time / 3600, sensor_suspects=screened.suspects).alert:
            alert_at = plant.time
            text = explanation_text(explain(model, pca_reconstruct(model, recent, screened.mask)[-1]), top=3)
            break

    assert alert_at is not None, "no alert before the bearing failed"
    assert alert_at <= 8 * 60  # + the demo's start and a fit retry: within ~10 minutes of `make demo`
    assert failure_at - alert_at >= 3 * 60  # minutes before the failure
    assert "σ" in text
