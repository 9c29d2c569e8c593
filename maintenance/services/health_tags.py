"""The derived tags a health model writes, and the alarm definition of its alert.

One device of protocol "derived" ("Millwright derived values", never polled) holds every machine's derived tags,
named `<machine path>.health_score`, `.health_contribution`, `.rul_median_h`, `.rul_low_h`, `.rul_high_h`,
`.health_alert`; they are ordinary tags: historized, trendable, exportable and alarmable by anyone's definitions.
The alert tag (0 or 1) carries one definition made here ("Maintenance due", high priority), whose message the
alerting rewrites with the explanation just before it raises the alert (services/alerts.py).
"""

from __future__ import annotations

from django.db import transaction

from alarms.models import AlarmDefinition, AlarmKind, Priority
from historian.models import DataType, Device, Protocol, ScanClass, Tag
from historian.models.tags import Interpolation
from maintenance.models import HealthModel

DERIVED_DEVICE_NAME = "Millwright derived values"
DERIVED_SCAN_CLASS_NAME = "Derived"
ALERT_DEFINITION_NAME = "Maintenance due"
ALERT_MESSAGE = "{machine}: maintenance due"

# field on HealthModel -> (tag suffix, short name, data type, units, span, interpolation, description)
_TAGS = {
    "score_tag": ("health_score", "Health score", DataType.FLOAT64, "", (0.0, 3.0), Interpolation.LINEAR,
                  "Health index over its limit (1.0 at the limit, higher is worse)"),
    "contribution_tag": ("health_contribution", "Health: top contributions", DataType.STRING, "", (0.0, 1.0),
                         Interpolation.STEP, "The signals that drive the health score most"),
    "rul_median_tag": ("rul_median_h", "RUL (median)", DataType.FLOAT64, "h", (0.0, 48.0), Interpolation.LINEAR,
                       "Remaining useful life, median estimate"),
    "rul_low_tag": ("rul_low_h", "RUL (low)", DataType.FLOAT64, "h", (0.0, 48.0), Interpolation.LINEAR,
                    "Remaining useful life, lower bound of the 90 % interval"),
    "rul_high_tag": ("rul_high_h", "RUL (high)", DataType.FLOAT64, "h", (0.0, 48.0), Interpolation.LINEAR,
                     "Remaining useful life, upper bound of the 90 % interval"),
    "alert_tag": ("health_alert", "Maintenance alert", DataType.FLOAT64, "", (0.0, 1.0), Interpolation.STEP,
                  "1 while the health model asks for maintenance"),
}  # fmt: skip


def derived_device() -> Device:
    device, _ = Device.objects.get_or_create(
        name=DERIVED_DEVICE_NAME,
        defaults={"protocol": Protocol.DERIVED, "host": "localhost", "description": "Values Millwright computes"},
    )
    return device


def derived_scan_class() -> ScanClass:
    scan_class, _ = ScanClass.objects.get_or_create(
        name=DERIVED_SCAN_CLASS_NAME,
        defaults={"period_ms": 5000, "description": "Derived values (not polled: written as they are computed)"},
    )
    return scan_class


def health_tags_ensure(*, model: HealthModel) -> HealthModel:
    """Create the model's derived tags and its alert definition where missing; returns the model, saved."""
    machine = model.machine
    base = _machine_path(model)
    with transaction.atomic():
        device, scan_class = derived_device(), derived_scan_class()
        changed = []
        for field, (suffix, name, data_type, units, span, interpolation, description) in _TAGS.items():
            if getattr(model, f"{field}_id") is not None:
                continue
            tag, _ = Tag.objects.get_or_create(
                path=f"{base}.{suffix}",
                defaults={
                    "name": name,
                    "machine": machine,
                    "device": device,
                    "scan_class": scan_class,
                    "address": f"health:{suffix}",
                    "data_type": data_type,
                    "units": units,
                    "span_low": span[0],
                    "span_high": span[1],
                    "interpolation": interpolation,
                    "description": description,
                    "is_key": field == "score_tag",
                },
            )
            setattr(model, field, tag)
            changed.append(field)
        if changed:
            model.save(update_fields=changed)
        assert model.alert_tag is not None
        AlarmDefinition.objects.get_or_create(
            tag=model.alert_tag,
            name=ALERT_DEFINITION_NAME,
            defaults={
                "kind": AlarmKind.HI,
                "limit": 0.5,
                "priority": Priority.HIGH,
                "message": ALERT_MESSAGE,
                "description": "Raised by the machine's health model (maintenance); its message says why.",
            },
        )
    return model


def _machine_path(model: HealthModel) -> str:
    """The machine's tag path prefix (Site/Area/Line/Machine), as the tag CSV and factories name tags."""
    machine = model.machine
    line = machine.line
    return f"{line.area.site.name}/{line.area.name}/{line.name}/{machine.name}"


def analog_signals(*, model: HealthModel) -> list[Tag]:
    """The machine's analog tags: numbers read from its PLC that vary continuously (floats, linear, not written,
    not counters), the default signals of a health model."""
    return list(
        Tag.objects.filter(
            machine=model.machine,
            data_type__in=[DataType.FLOAT32, DataType.FLOAT64],
            interpolation=Interpolation.LINEAR,
            writable=False,
            counter_rollover__isnull=True,
        )
        .exclude(device__protocol=Protocol.DERIVED)
        .order_by("name")
    )
