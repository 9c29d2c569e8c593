"""The demo plant: the simulator's lines and machines as sites, devices and tags, so the two always agree.

In `make demo` line 1 is read over Modbus TCP, line 3 over OPC UA and line 2 over Sparkplug B when an MQTT broker
runs (else over Modbus too): the protocols at work side by side.
"""

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from demo.alarms import demo_alarms_load
from demo.simulator.opcua_server import opcua_signal_node_id
from demo.simulator.plant import MACHINE_SIGNALS, STATE_LABELS, MachineState, SignalSpec, machine_tag_address
from demo.simulator.production import DEMO_TIME_ZONE, FAULT_CODES, PRODUCTS
from demo.simulator.sparkplug_plant import SPARKPLUG_GROUP, sparkplug_edge_node_id, sparkplug_metric_name
from historian.models import (
    Area,
    ConfirmationMode,
    Device,
    Line,
    Machine,
    Protocol,
    ScanClass,
    Site,
    Tag,
    ValueLabel,
    ValueLabelSet,
    WritePolicy,
)
from historian.models.tags import Interpolation
from ingest.services.writes import device_writes_set

SITE_NAME = "Demo Plant"
AREA_NAME = "Machining"
#: Value label sets (name -> value -> (label, colour)) and the signals that show their values through them.
STATE_COLOURS: dict[MachineState, str] = {
    MachineState.IDLE: "#9e9e9e",
    MachineState.RUNNING: "#2e7d32",
    MachineState.DOWN: "#c62828",
    MachineState.BLOCKED: "#f9a825",
    MachineState.SETUP: "#1565c0",
    MachineState.PLANNED_STOP: "#6a1b9a",
    MachineState.OFF: "#424242",
}
VALUE_LABEL_SETS: dict[str, dict[int, tuple[str, str]]] = {
    "Machine state": {int(state): (label, STATE_COLOURS[state]) for state, label in STATE_LABELS.items()},
    "Product": {product.code: (product.name, "") for product in PRODUCTS},
    "Fault code": {0: ("No fault", "#2e7d32")} | {code: (text, "#c62828") for code, (text, _) in FAULT_CODES.items()},
    "Running / stopped": {0: ("Stopped", "#9e9e9e"), 1: ("Running", "#2e7d32")},
    "Fault / OK": {0: ("OK", "#2e7d32"), 1: ("Fault", "#c62828")},
    "Open / closed": {0: ("Closed", "#2e7d32"), 1: ("Open", "#f9a825")},
    "Machine command": {0: ("None", ""), 1: ("Start", ""), 2: ("Stop", ""), 3: ("Reset fault", "")},
}
VALUE_LABELS_OF_SIGNAL: dict[str, str] = {
    "state": "Machine state",
    "product": "Product",
    "alarm_code": "Fault code",
    "running": "Running / stopped",
    "fault": "Fault / OK",
    "door_open": "Open / closed",
    "command": "Machine command",
}


def demo_value_labels_load() -> dict[str, ValueLabelSet]:
    """The demo's value label sets, created or brought back to what VALUE_LABEL_SETS says."""
    sets = {}
    for name, entries in VALUE_LABEL_SETS.items():
        label_set, _ = ValueLabelSet.objects.get_or_create(name=name)
        label_set.entries.exclude(value__in=list(entries)).delete()
        for value, (label, colour) in entries.items():
            ValueLabel.objects.update_or_create(set=label_set, value=value, defaults={"label": label, "colour": colour})
        sets[name] = label_set
    return sets


def _interpolation(spec: SignalSpec) -> str:
    """Step for every integer or boolean signal (states, codes, counters: a value holds until the next one)."""
    return "" if spec.data_type.startswith("float") else Interpolation.STEP


@dataclass(frozen=True)
class DemoPlantSummary:
    lines: int
    machines: int
    tags: int
    devices: int
    protocols: tuple[str, ...] = ()  # each line's


def demo_machine_name(line_index: int, machine_index: int) -> str:
    return f"CNC {line_index + 1}{machine_index + 1:02d}"


DEVICE_NAMES: dict[str, str] = {
    Protocol.MODBUS: "Line {n} PLC",
    Protocol.OPCUA: "Line {n} OPC UA server",
    Protocol.SPARKPLUG: "Line {n} edge node (Sparkplug B)",
}


def demo_device_name(line_index: int, protocol: str) -> str:
    return DEVICE_NAMES[protocol].format(n=line_index + 1)


@transaction.atomic
def demo_plant_load(
    *,
    host: str = "127.0.0.1",
    port: int = 5020,
    lines: int = 3,
    machines_per_line: int = 3,
    opcua_port: int | None = None,
    opcua_lines: int = 1,
    sparkplug_broker: tuple[str, int] | None = None,
    sparkplug_line: int = 2,
) -> DemoPlantSummary:
    """Create or update the demo plant (idempotent: run it again to point the devices at new ports).

    Every line is a PLC behind the simulator's Modbus TCP gateway (unit id = line number), polled; with
    `opcua_port`, the last `opcua_lines` lines are read from the simulator's OPC UA server instead (the same
    plant, the same values), by subscription; with `sparkplug_broker` (host, port), line `sparkplug_line` (from 1)
    comes from the simulator's Sparkplug B edge node through that MQTT broker. So the overview shows machines fed
    by each protocol.
    """
    site, _ = Site.objects.update_or_create(
        name=SITE_NAME,
        defaults={"description": "Simulated CNC machining plant", "timezone": DEMO_TIME_ZONE},
    )
    area, _ = Area.objects.get_or_create(site=site, name=AREA_NAME)
    scan_class, _ = ScanClass.objects.get_or_create(
        name="Fast", defaults={"period_ms": 1000, "description": "Machine signals, every second"}
    )
    label_sets = demo_value_labels_load()
    first_opcua_line = lines - opcua_lines if opcua_port is not None else lines
    protocols = [Protocol.MODBUS if li < first_opcua_line else Protocol.OPCUA for li in range(lines)]
    if sparkplug_broker is not None and 1 <= sparkplug_line <= lines:
        protocols[sparkplug_line - 1] = Protocol.SPARKPLUG
    tags = 0
    for li in range(lines):
        line, _ = Line.objects.get_or_create(area=area, name=f"Line {li + 1}")
        protocol = protocols[li]
        defaults: dict = {"protocol": protocol, "host": host, "enabled": True}
        if protocol == Protocol.MODBUS:
            defaults |= {
                "port": port,
                "unit_id": li + 1,
                "description": "Simulated line PLC behind the demo Modbus TCP gateway",
            }
        elif protocol == Protocol.OPCUA:
            defaults |= {
                "port": opcua_port,
                "use_subscriptions": True,
                "publishing_interval_ms": scan_class.period_ms,
                "description": "The simulated line served by the demo OPC UA server; it pushes changes",
            }
        else:
            assert sparkplug_broker is not None
            defaults |= {
                "host": sparkplug_broker[0],
                "port": sparkplug_broker[1],
                "sparkplug_group_id": SPARKPLUG_GROUP,
                "sparkplug_edge_node_id": sparkplug_edge_node_id(li),
                "description": "The simulated line published by the demo Sparkplug B edge node, through MQTT",
            }
        device, _ = Device.objects.update_or_create(name=demo_device_name(li, protocol), defaults=defaults)
        for mi in range(machines_per_line):
            machine, _ = Machine.objects.get_or_create(line=line, name=demo_machine_name(li, mi))
            for spec in MACHINE_SIGNALS:
                if protocol == Protocol.OPCUA:
                    address = opcua_signal_node_id(li, mi, spec.name)
                elif protocol == Protocol.SPARKPLUG:
                    address = sparkplug_metric_name(li, mi, spec.name)
                else:
                    address = machine_tag_address(mi, spec)
                tag = Tag(
                    path=f"{site.name}/{area.name}/{line.name}/{machine.name}.{spec.name}",
                    name=spec.name.replace("_", " ").capitalize(),
                    machine=machine,
                    device=device,
                    scan_class=scan_class,
                    address=address,
                    data_type=spec.data_type,
                    units=spec.units,
                    span_low=spec.span[0],
                    span_high=spec.span[1],
                    value_labels=label_sets.get(VALUE_LABELS_OF_SIGNAL.get(spec.name, "")),
                    interpolation=_interpolation(spec),
                    counter_rollover=spec.rollover,
                    is_key=spec.key,
                    writable=spec.writable,
                    description=spec.description,
                )
                tag.full_clean(validate_unique=False)
                fields = {
                    f.name: getattr(tag, f.name) for f in Tag._meta.concrete_fields if f.name not in ("id", "path")
                }
                fields["machine"], fields["device"], fields["scan_class"] = machine, device, scan_class
                saved, _ = Tag.objects.update_or_create(path=tag.path, defaults=fields)
                tags += 1
                if spec.name == "state" and machine.state_tag_id != saved.pk:
                    machine.state_tag = saved
                    machine.save(update_fields=["state_tag"])
        # A line that changed protocol since the last run leaves its other device without tags: gone.
        stale = {demo_device_name(li, p) for p in DEVICE_NAMES} - {device.name}
        Device.objects.filter(name__in=stale, tags__isnull=True).delete()
    demo_alarms_load(machines=list(Machine.objects.filter(line__area=area)))
    return DemoPlantSummary(
        lines=lines,
        machines=lines * machines_per_line,
        tags=tags,
        devices=lines,
        protocols=tuple(protocols),
    )


#: The demo's write policies (issue 14), per signal: the speed setpoint and the command register are armed, then
#: confirmed (select-before-operate); the feed override is written at once within a narrow range and step.
DEMO_WRITE_POLICIES: dict[str, dict] = {
    "speed_setpoint": {
        "min_value": 600.0,
        "max_value": 3600.0,
        "max_step": 1000.0,
        "min_interval_seconds": 2.0,
        "confirmation": ConfirmationMode.ARM,
        "confirm_within_seconds": 30,
    },
    "feed_override": {
        "min_value": 50.0,
        "max_value": 120.0,
        "max_step": 30.0,
        "min_interval_seconds": 1.0,
        "confirmation": ConfirmationMode.DIRECT,
        "confirm_within_seconds": 30,
    },
    "command": {  # 1 start, 2 stop, 3 reset fault (4, maintenance done, is the maintenance crew's)
        "min_value": 1.0,
        "max_value": 3.0,
        "max_step": None,
        "min_interval_seconds": 2.0,
        "confirmation": ConfirmationMode.ARM,
        "confirm_within_seconds": 15,
    },
}


def demo_writes_load(*, admin: User) -> int:
    """Write policies on the demo machines' writable tags, and writes enabled on the demo devices by `admin` (an
    administrator: audited), so a visitor operates the machines from their pages. Idempotent; returns the number of
    policies."""
    count = 0
    with transaction.atomic():
        for tag in Tag.objects.filter(machine__line__area__site__name=SITE_NAME, writable=True).select_related():
            signal = tag.path.rsplit(".", 1)[-1]
            settings = DEMO_WRITE_POLICIES.get(signal)
            if settings is None:
                continue
            WritePolicy.objects.update_or_create(tag=tag, defaults=settings)
            count += 1
    for device in Device.objects.filter(tags__machine__line__area__site__name=SITE_NAME).distinct():
        device_writes_set(device=device, enabled=True, user=admin)
    return count
