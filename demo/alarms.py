"""Alarm definitions for the demo plant's simulated CNC machines, chosen so that they fire the way a real plant's do.

The simulator trips a machine at 95 °C motor temperature (alarm code 101): the Hi (78 °C, which hot, worn spindles
reach a few times a shift) and HiHi (90 °C) limits warn before.
Vibration spikes, breakdowns (alarm code != 0), an open guard door and a spindle that lags its setpoint while
running give a realistic mix of priorities; the deviation and hydraulic pressure alarms are suppressed by design while
the machine is not running (the pump is off while it is down or switched off for a repair).
"""

from dataclasses import dataclass

from django.db import transaction

from alarms.models import AlarmDefinition, AlarmKind, Comparison, Priority
from historian.models import Machine, Tag

RUNNING = 1.0  # the state register's code (demo.simulator.plant.MachineState)


@dataclass(frozen=True)
class DemoAlarm:
    signal: str
    name: str
    kind: str
    priority: str
    message: str
    limit: float | None = None
    deadband: float = 0.0
    on_delay: float = 0.0
    off_delay: float = 0.0
    setpoint_signal: str | None = None
    suppress_when: tuple[str, float] | None = None  # (eq | ne, value) of the machine state
    latching: bool = False


DEMO_ALARMS: tuple[DemoAlarm, ...] = (
    DemoAlarm("motor_temperature", "Motor temperature high", AlarmKind.HI, Priority.HIGH,
              "{machine} motor temperature high: {value} {units} (limit {limit} {units})", 78.0, 2.0, 10.0),
    DemoAlarm("motor_temperature", "Motor temperature high-high", AlarmKind.HIHI, Priority.CRITICAL,
              "{machine} motor temperature {value} {units}: trips at 95 {units}", 90.0, 2.0),
    DemoAlarm("vibration_rms", "Spindle vibration high", AlarmKind.HI, Priority.MEDIUM,
              "{machine} spindle vibration {value} {units} above {limit} {units}", 6.0, 0.5, 2.0, 3.0),
    DemoAlarm("alarm_code", "Machine fault", AlarmKind.DISCRETE_NOT_EQUALS, Priority.HIGH,
              "{machine} fault: alarm code {value}", 0.0),
    DemoAlarm("spindle_speed", "Spindle speed deviation", AlarmKind.DEVIATION, Priority.MEDIUM,
              "{machine} spindle at {value} {units}, setpoint {setpoint} {units}", 100.0, 20.0, 10.0,
              setpoint_signal="speed_setpoint", suppress_when=(Comparison.NOT_EQUALS, RUNNING)),
    DemoAlarm("hydraulic_pressure", "Hydraulic pressure low", AlarmKind.LO, Priority.HIGH,
              "{machine} hydraulic pressure {value} {units} below {limit} {units}", 90.0, 5.0, 3.0,
              suppress_when=(Comparison.NOT_EQUALS, RUNNING)),
    DemoAlarm("door_open", "Guard door open", AlarmKind.DISCRETE_EQUALS, Priority.LOW,
              "{machine} guard door open", 1.0, on_delay=30.0),
    DemoAlarm("state", "PLC communication lost", AlarmKind.BAD_QUALITY, Priority.HIGH,
              "{machine}: no communication with the line PLC", latching=True),
)  # fmt: skip


@transaction.atomic
def demo_alarms_load(*, machines: list[Machine]) -> int:
    """Create or update the demo alarm definitions of `machines` (idempotent); returns how many there are."""
    count = 0
    for machine in machines:
        tags = {t.path.rsplit(".", 1)[-1]: t for t in Tag.objects.filter(machine=machine)}
        state_tag = tags.get("state")
        for spec in DEMO_ALARMS:
            tag = tags.get(spec.signal)
            if tag is None:
                continue
            definition = AlarmDefinition(
                tag=tag,
                name=spec.name,
                kind=spec.kind,
                limit=spec.limit,
                setpoint_tag=tags.get(spec.setpoint_signal) if spec.setpoint_signal else None,
                deadband=spec.deadband,
                on_delay_seconds=spec.on_delay,
                off_delay_seconds=spec.off_delay,
                priority=spec.priority,
                message=spec.message,
                latching=spec.latching,
                suppress_tag=state_tag if spec.suppress_when else None,
                suppress_when=spec.suppress_when[0] if spec.suppress_when else Comparison.NOT_EQUALS,
                suppress_value=spec.suppress_when[1] if spec.suppress_when else None,
                enabled=True,
            )
            definition.full_clean(validate_unique=False, validate_constraints=False)
            fields = {
                f.name: getattr(definition, f.name)
                for f in AlarmDefinition._meta.concrete_fields
                if f.name not in ("id", "tag", "name", "updated_at")
            }
            AlarmDefinition.objects.update_or_create(tag=tag, name=spec.name, defaults=fields)
            count += 1
    return count
