"""Predictive maintenance in the demo plant: CNC 102 (line 1, Modbus), whose spindle bearing wears fast
(demo.simulator.wear.DEMO_WEAR), gets a health model that is fitted from its first minutes of normal running, so a
visitor sees its health score rise, an explained "Maintenance due" alarm and a work request within ~10 minutes.
Closing the request as done writes the machine's command register "maintenance done" (4) through the tag's write
policy (direct, 0..4, the only policy on the line's PLC, whose writes the demo enables), which fits a new bearing,
and re-baselines the model.

Each start of the demo starts the simulator afresh, with the same worn bearing: the model, kept in the database from
an earlier run, is re-baselined then (trained again on the new run's first minutes, free to alert again), or the
visitor of a second run would see no alert (the first run's alert claimed) or scores against an older bearing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from demo.plant import demo_machine_name
from demo.simulator.plant import MachineCommand
from historian.models import ConfirmationMode, Machine, Tag, WritePolicy
from ingest.services.writes import device_writes_set
from maintenance.models import HealthModel
from maintenance.services.health import health_model_create, health_rebaseline

#: (line, machine) of the degrading machine, 0-based: L1-M2.
DEGRADING = (0, 1)
SIGNALS = ("vibration_rms", "vibration_hf", "bearing_temperature", "motor_current", "motor_temperature")
#: The demo's pace (HealthModel fields): a few minutes of training, alerts within minutes (the bearing fails ~12-15
#: minutes in). tests/demo/test_maintenance.py plays the demo's first minutes through the health numerics with them.
DEMO_PACE: dict[str, Any] = {
    "auto_train_minutes": 3.0,
    "sample_seconds": 2.0,
    "score_high": 1.0,
    "score_high_minutes": 1.5,
    "planning_horizon_hours": 0.25,
    "failure_score": 8.0,
}


@transaction.atomic
def demo_maintenance_load(*, admin: User) -> HealthModel | None:
    """CNC 102's health model (created once, re-baselined on every later load: a new run of the simulator) and
    its maintenance command's write policy; None without that machine."""
    machine = Machine.objects.filter(name=demo_machine_name(*DEGRADING), line__name__startswith="Line 1").first()
    if machine is None:
        return None
    model = HealthModel.objects.filter(machine=machine).first()
    if model is not None:
        health_rebaseline(machine=machine, at=timezone.now(), user=admin, reason="demo started")
        model.refresh_from_db()
        return model
    # The demo names tags <machine path>.<signal> (demo.plant), their short names "Vibration rms".
    tags = {t.path.rsplit(".", 1)[-1]: t for t in Tag.objects.filter(machine=machine)}
    command = tags.get("command")
    model = health_model_create(
        machine=machine,
        user=admin,
        component="spindle bearing",
        signals=[tags[name] for name in SIGNALS if name in tags],
        maintenance_command_tag=command,
        maintenance_command_value=float(MachineCommand.MAINTENANCE) if command is not None else None,
        **DEMO_PACE,
    )
    if command is not None:
        WritePolicy.objects.get_or_create(
            tag=command, defaults={"min_value": 0, "max_value": 4, "confirmation": ConfirmationMode.DIRECT}
        )
        device_writes_set(device=command.device, enabled=True, user=admin)
    return model
