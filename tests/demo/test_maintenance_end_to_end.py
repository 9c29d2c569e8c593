"""The demo's predictive maintenance end to end, on the real path: the simulated plant with the demo's wear (CNC
102's bearing, DEMO_WEAR) served over Modbus TCP, a real `celery worker --acquisition` polling it, the store, the
production states, the scoring hook, the ISA-18.2 alarm and the work request; closing the request writes the
machine's command register (maintenance done), which fits the simulator a new bearing, and re-baselines the model.

The plant runs on an accelerated clock (SPEEDUP times real time), and the model's durations are the demo's divided
by it, so the demo's ~12 minutes to failure take a few minutes here; the plant's clock starts once the worker is up.
"""

import threading
import time
from collections.abc import Iterator

import pytest
from django.utils import timezone

from alarms.models import Alarm
from demo.maintenance import DEMO_PACE, demo_maintenance_load
from demo.plant import SITE_NAME
from demo.production import demo_production_load
from demo.simulator.modbus_server import PlantServerThread
from demo.simulator.plant import PlantSimulator
from demo.simulator.wear import DEMO_WEAR, FailureMode
from historian.models import Site
from maintenance.models import HealthModel, MaintenanceRequest, RequestStatus
from maintenance.services.requests import request_close
from tests.factories import UserFactory
from tests.simulated_plant import plant_simulator
from tests.test_walking_skeleton import celery_worker_process  # noqa: F401  (the real worker fixture)
from tests.waiting import wait_until

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.serial]

SPEEDUP = 4.0


class AcceleratedClock:
    """The plant's time source: still until `start()`, then SPEEDUP times the monotonic clock."""

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self._origin: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._origin = time.monotonic()

    def __call__(self) -> float:
        with self._lock:
            return 0.0 if self._origin is None else (time.monotonic() - self._origin) * self.speedup


@pytest.fixture
def clock() -> AcceleratedClock:
    return AcceleratedClock(SPEEDUP)


@pytest.fixture
def plant_server(clock) -> Iterator[PlantServerThread]:
    """The tests' 1 x 2 plant (the conftest's fixture of that name, which `demo_plant` points the model at) with the
    demo's wear on L1-M2 (CNC 102), on the accelerated clock."""
    plant: PlantSimulator = plant_simulator(lines=1, machines_per_line=2, seed=1, wear=DEMO_WEAR)
    with PlantServerThread(plant, tick_seconds=0.2, clock=clock) as server:
        yield server


@pytest.fixture
def demo_model(transactional_db, demo_plant, monkeypatch):
    """CNC 102's demo model, production's states (it scores only while Running), at the accelerated pace."""
    monkeypatch.setenv("MAINTENANCE_SCORE_SECONDS", str(5 / SPEEDUP))
    monkeypatch.setenv("MAINTENANCE_FIT_RETRY_SECONDS", "2")
    demo_production_load(site=Site.objects.get(name=SITE_NAME))
    admin = UserFactory(superuser=True)
    model = demo_maintenance_load(admin=admin)
    assert model is not None
    assert model.running_only
    HealthModel.objects.filter(pk=model.pk).update(
        auto_train_minutes=DEMO_PACE["auto_train_minutes"] / SPEEDUP,
        sample_seconds=DEMO_PACE["sample_seconds"] / SPEEDUP,
        score_high_minutes=DEMO_PACE["score_high_minutes"] / SPEEDUP,
        planning_horizon_hours=DEMO_PACE["planning_horizon_hours"] / SPEEDUP,
    )
    return model, admin


@pytest.mark.timeout(600)  # the demo bearing runs to failure (~3 min) with a real worker on each side of it
def test_the_wearing_bearing_raises_an_explained_alarm_and_a_request_before_it_fails_and_closing_resets_it(
    demo_model,
    plant_server,
    clock,
    celery_worker_process,  # noqa: F811
):
    model, admin = demo_model
    plant = plant_server.plant
    machine = plant.machine_named("L1-M2")
    failure_at = machine.wear_model.parts[FailureMode.BEARING].failure_at  # plant seconds (ground truth)
    HealthModel.objects.filter(pk=model.pk).update(training_start=timezone.now())
    clock.start()  # the demo starts: the plant moves, the worker polls it

    request = wait_until(
        lambda: MaintenanceRequest.objects.filter(machine=model.machine).first(),
        timeout=failure_at / SPEEDUP + 60,
        what="the health monitor to open a work request",
        interval=0.2,
    )
    opened_at = plant.time
    model.refresh_from_db()
    assert model.current_version is not None
    assert model.current_version.version == 1
    # Well before the true failure, and within the minutes a visitor of the demo watches.
    assert failure_at - opened_at >= 120, f"opened {opened_at:.0f} s in, the bearing fails at {failure_at:.0f} s"
    assert opened_at <= 10 * 60
    assert not machine.wear_model.failed(plant.time)
    assert request.by_monitor
    assert request.status == RequestStatus.OPEN
    assert request.component == "spindle bearing"
    explanation = request.evidence["explanation"]
    assert "σ" in explanation
    assert request.evidence["contributions"]
    assert request.evidence["score_trend"]
    alarm = wait_until(
        lambda: Alarm.objects.filter(definition__tag=model.alert_tag, state="unack_active").first(),
        timeout=30,
        what="the maintenance alarm",
    )
    assert alarm.message.startswith("CNC 102: spindle bearing maintenance due")
    assert explanation in alarm.message

    request_close(request_id=request.pk, user=admin, note="Bearing replaced")

    # The command register's "maintenance done" reached the simulator: a new bearing, its worn one's life ended.
    bearings = [life for life in machine.wear_model.lives if life.mode == FailureMode.BEARING]
    assert bearings[-2].ended_by == "maintenance"
    assert bearings[-1].failure_at - plant.time > 30 * 60  # the new bearing lasts about an hour
    assert machine.damage[FailureMode.BEARING] < 0.1
    model.refresh_from_db()
    assert model.alerted_at is None
    assert model.current_version is None  # re-baselined ...
    refit = wait_until(
        lambda: HealthModel.objects.select_related("current_version").get(pk=model.pk).current_version,
        timeout=DEMO_PACE["auto_train_minutes"] * 60 / SPEEDUP + 90,
        what="the worker to fit the model again on the new bearing's running",
    )
    assert refit.version == 2  # ... and fitted on the running after the maintenance
    request.refresh_from_db()
    assert refit.training_start == request.closed_at  # its window proposed from the maintenance on
    assert MaintenanceRequest.objects.count() == 1  # once, not once per batch
