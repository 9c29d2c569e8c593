"""The demo plant: the simulator's lines and machines as sites, devices and tags, so the two always agree.

In `make demo` line 1 is read over Modbus TCP, line 3 over OPC UA and line 2 over Sparkplug B when an MQTT broker
runs (else over Modbus too): the protocols at work side by side.
"""

from dataclasses import dataclass

from django.db import transaction

from demo.alarms import demo_alarms_load
from demo.simulator.opcua_server import opcua_signal_node_id
from demo.simulator.plant import MACHINE_SIGNALS, STATE_LABELS, SignalSpec, machine_tag_address
from demo.simulator.production import DEMO_TIME_ZONE, PRODUCTS
from demo.simulator.sparkplug_plant import SPARKPLUG_GROUP, sparkplug_edge_node_id, sparkplug_metric_name
from historian.models import Area, Device, Line, Machine, Protocol, ScanClass, Site, Tag
from historian.models.tags import Interpolation

SITE_NAME = "Demo Plant"
AREA_NAME = "Machining"
#: Names for the discrete values of the signals that have them: the state codes and the product codes.
VALUE_LABELS: dict[str, dict[str, str]] = {
    "state": {str(int(state)): label for state, label in STATE_LABELS.items()},
    "product": {str(product.code): product.name for product in PRODUCTS},
}


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
                    value_labels=VALUE_LABELS.get(spec.name, {}),
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
