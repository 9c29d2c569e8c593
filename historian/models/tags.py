"""Tags: one measured or computed value of a machine, read from a device address."""

import math

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from historian.addresses import DATA_TYPES, TEXT_DATA_TYPES, InvalidTagAddress, validate_tag_address
from historian.models.devices import ByteOrder, Protocol, WordOrder


class DataType(models.TextChoices):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOL = "bool"
    STRING = "string"


assert set(DataType.values) == set(DATA_TYPES), "tag data types and address data types must agree"

FLOAT_DATA_TYPES = frozenset({DataType.FLOAT32, DataType.FLOAT64})
#: Values that span several registers, whose order (word order) the device or the tag sets.
MULTI_REGISTER_NUMBER_TYPES = frozenset({DataType.INT32, DataType.UINT32, DataType.FLOAT32, DataType.FLOAT64})


class Interpolation(models.TextChoices):
    LINEAR = "linear", "Linear"
    STEP = "step", "Step (the value holds until the next sample)"


class DeviationUnit(models.TextChoices):
    ABSOLUTE = "absolute", "Engineering units"
    PERCENT = "percent", "% of span"


class Tag(models.Model):
    path = models.CharField(
        max_length=255, unique=True, help_text="Unique name, by convention Site/Area/Line/Machine.signal"
    )
    name = models.CharField(max_length=100, help_text="Short name shown on the machine's pages")
    machine = models.ForeignKey("historian.Machine", on_delete=models.PROTECT, related_name="tags")
    device = models.ForeignKey("historian.Device", on_delete=models.PROTECT, related_name="tags")
    scan_class = models.ForeignKey("historian.ScanClass", on_delete=models.PROTECT, related_name="tags")
    address = models.CharField(
        max_length=200,
        help_text="Modbus: HR100, IR5, CO3, DI7, HR100.3 (a bit), HR200:10 (a string of 10 registers, 20 "
        "characters) or 40001",
    )
    data_type = models.CharField(max_length=10, choices=DataType.choices, default=DataType.FLOAT32)
    # One PLC may hold values of both orders (e.g. ABCD and CDAB floats): a tag may override its device's
    # (empty: the device's).
    word_order = models.CharField(
        max_length=10,
        choices=WordOrder.choices,
        blank=True,
        help_text="Modbus, 32- and 64-bit values: the order of their registers; empty: the device's word order",
    )
    byte_order = models.CharField(
        max_length=10,
        choices=ByteOrder.choices,
        blank=True,
        help_text="Modbus registers: the order of the two bytes in each; empty: the device's byte order",
    )
    units = models.CharField(max_length=20, blank=True, help_text="Engineering units, e.g. °C, bar, rpm")
    scale = models.FloatField(default=1.0, help_text="Engineering value = raw value x scale + offset")
    offset = models.FloatField(default=0.0)
    deadband = models.FloatField(
        default=0.0,
        help_text="Change below which a new value is not stored (exception deadband; 0: every poll, or every "
        "change for counts, states and booleans)",
    )
    deviation_unit = models.CharField(
        max_length=10,
        choices=DeviationUnit.choices,
        default=DeviationUnit.ABSOLUTE,
        help_text="Unit of the deadband and the compression deviation",
    )
    compression_deviation = models.FloatField(
        default=0.0,
        help_text="Swinging-door compression (analog tags): the stored series, interpolated linearly, stays within "
        "this of every polled value. 0: off",
    )
    max_store_interval_seconds = models.FloatField(
        default=0.0, help_text="Store a value at least this often even when it does not change. 0: no limit"
    )
    stale_after_seconds = models.FloatField(
        default=0.0,
        help_text="Quality turns uncertain when the value has not changed for this long (a frozen source). 0: off",
    )
    span_low = models.FloatField(default=0.0, help_text="Lower end of the normal range (chart axis)")
    span_high = models.FloatField(default=100.0, help_text="Upper end of the normal range (chart axis)")
    value_labels = models.ForeignKey(
        "historian.ValueLabelSet",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tags",
        help_text="Names (and colours) for a discrete tag's values, e.g. 0 Idle, 1 Running",
    )
    interpolation = models.CharField(
        max_length=6,
        choices=Interpolation.choices,
        blank=True,
        help_text="How history reads values between samples; blank: linear for floats, step for integers and booleans",
    )
    counter_rollover = models.FloatField(
        null=True,
        blank=True,
        help_text="For counters that wrap: the value at which the counter wraps back to 0 (65536 for 16 bits)",
    )
    is_key = models.BooleanField(default=False, help_text="Shown on the machine's card in the plant overview")
    writable = models.BooleanField(
        default=False,
        help_text=(
            "The device accepts writes to this tag (a setpoint, a command). Off by default: a tag is read-only until "
            "an administrator marks it; the write policy decides who may write what"
        ),
    )
    historize = models.BooleanField(default=True)
    edge_publish = models.BooleanField(
        default=False,
        help_text="Publish this tag's values to the central host as Sparkplug B (the enabled edge publication); "
        "numbers only",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Days of history kept for this tag; empty: the default of the historian settings.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["path"]
        indexes = [models.Index(fields=["device", "scan_class"], name="tag_device_scan_class_idx")]

    def __str__(self) -> str:
        return self.path

    def clean(self) -> None:
        errors: dict[str, str] = {}
        # A device assigned but not saved yet counts too (the CSV import validates before it creates devices).
        if self.device_id is not None or (Tag.device.is_cached(self) and self.device is not None):
            try:
                validate_tag_address(protocol=self.device.protocol, address=self.address, data_type=self.data_type)
            except InvalidTagAddress as exc:
                errors["address"] = str(exc)
        errors |= self._register_order_errors()
        if self.span_high <= self.span_low:
            errors["span_high"] = "The upper end of the range must be above the lower end."
        if self.deadband < 0:
            errors["deadband"] = "A deadband cannot be negative."
        if self.compression_deviation < 0:
            errors["compression_deviation"] = "A compression deviation cannot be negative."
        elif self.compression_deviation > 0 and self.is_discrete:
            errors["compression_deviation"] = (
                "Compression interpolates between stored values, which is wrong for counts, states and booleans: "
                "they are stored on change. Use a deadband instead."
            )
        elif self.compression_deviation > 0 and self.deadband > 0:
            errors["compression_deviation"] = (
                "Use a deadband or a compression deviation, not both: compression already bounds the error."
            )
        if self.max_store_interval_seconds < 0:
            errors["max_store_interval_seconds"] = "The maximum interval cannot be negative (0 means no limit)."
        if self.stale_after_seconds < 0:
            errors["stale_after_seconds"] = "The stale time cannot be negative (0 means off)."
        if self.counter_rollover is not None and self.counter_rollover <= 0:
            errors["counter_rollover"] = "A counter's rollover value must be above 0."
        if self.is_text:
            errors |= self._text_errors()
            if self.edge_publish:
                errors["edge_publish"] = "Only numeric tags are published to the central host."
        if errors:
            raise ValidationError(errors)

    def _register_order_errors(self) -> dict[str, str]:
        """A word or byte order that cannot apply is refused, not silently ignored: the person setting it expects
        it to change the value read."""
        errors: dict[str, str] = {}
        if not self.word_order and not self.byte_order:
            return errors
        has_device = self.device_id is not None or (Tag.device.is_cached(self) and self.device is not None)
        if has_device and self.device.protocol != Protocol.MODBUS:
            protocol = self.device.get_protocol_display()
            why = f"applies to Modbus registers only, not to the {protocol} device {self.device}: leave it empty."
            for name, label in (("word_order", "Word order"), ("byte_order", "Byte order")):
                if getattr(self, name):
                    errors[name] = f"{label} {why}"
            return errors
        if self.word_order and self.data_type not in MULTI_REGISTER_NUMBER_TYPES:
            errors["word_order"] = (
                "Word order applies to 32- and 64-bit values (int32, uint32, float32, float64), whose registers it "
                f"orders; not to {self.data_type}: leave it empty."
            )
        if self.byte_order and self.data_type == DataType.BOOL:
            errors["byte_order"] = (
                "Byte order does not apply to a bool tag (a coil, an input or a bit numbered within its register): "
                "leave it empty."
            )
        return errors

    def _text_errors(self) -> dict[str, str]:
        """Numeric settings make no sense for text: refuse them rather than ignore them silently."""
        why = "does not apply to a string tag (its text is stored as read, on change)"
        errors = {}
        if self.scale != 1.0:
            errors["scale"] = f"Scale {why}: leave it at 1."
        if self.offset != 0.0:
            errors["offset"] = f"Offset {why}: leave it at 0."
        if self.deadband != 0:
            errors["deadband"] = f"A deadband {why}: leave it at 0."
        if self.compression_deviation != 0:
            errors["compression_deviation"] = f"Compression {why}: leave it at 0."
        if self.counter_rollover is not None:
            errors["counter_rollover"] = f"A counter rollover {why}: leave it empty."
        return errors

    @property
    def is_text(self) -> bool:
        """A string tag: its samples live in the text table and never go through the numeric filters."""
        return self.data_type in TEXT_DATA_TYPES

    @property
    def effective_interpolation(self) -> str:
        if self.interpolation:
            return self.interpolation
        return Interpolation.LINEAR if self.data_type in FLOAT_DATA_TYPES else Interpolation.STEP

    @property
    def is_discrete(self) -> bool:
        """Counts, states and booleans (step interpolation or named values): stored on change, never compressed."""
        return self.effective_interpolation == Interpolation.STEP or self.value_labels_id is not None

    @property
    def plot_interpolation(self) -> str:
        """How a chart draws the tag between samples. Step (the value holds until the next sample) for counts,
        states, booleans, counters and any tag whose interpolation is step; linear only where a linear ramp between
        samples is true: an analog value, unlabelled, not a counter."""
        if self.is_discrete or self.data_type == DataType.BOOL or self.counter_rollover is not None:
            return Interpolation.STEP
        return Interpolation.LINEAR

    def deviation_absolute(self, deviation: float) -> float:
        """`deviation` (deadband or compression) in engineering units."""
        if self.deviation_unit == DeviationUnit.PERCENT:
            return deviation / 100.0 * (self.span_high - self.span_low)
        return deviation

    def value_label(self, value: float | str | None) -> str | None:
        """The label of `value` in the tag's set (prefetch `value_labels__entries` for many tags); None if none."""
        if value is None or self.value_labels is None or isinstance(value, str):
            return None
        if not math.isfinite(value) or value != int(value):
            return None
        entry = self.value_labels.by_value().get(int(value))
        return entry.label if entry is not None else None
