"""Tags: one measured or computed value of a machine, read from a device address."""

from django.core.exceptions import ValidationError
from django.db import models

from historian.addresses import DATA_TYPES, InvalidTagAddress, validate_tag_address


class DataType(models.TextChoices):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOL = "bool"


assert set(DataType.values) == set(DATA_TYPES), "tag data types and address data types must agree"


class Tag(models.Model):
    path = models.CharField(
        max_length=255, unique=True, help_text="Unique name, by convention Site/Area/Line/Machine.signal"
    )
    name = models.CharField(max_length=100, help_text="Short name shown on the machine's pages")
    machine = models.ForeignKey("historian.Machine", on_delete=models.PROTECT, related_name="tags")
    device = models.ForeignKey("historian.Device", on_delete=models.PROTECT, related_name="tags")
    scan_class = models.ForeignKey("historian.ScanClass", on_delete=models.PROTECT, related_name="tags")
    address = models.CharField(max_length=200, help_text="Modbus: HR100, IR5, CO3, DI7, HR100.3 or 40001")
    data_type = models.CharField(max_length=10, choices=DataType.choices, default=DataType.FLOAT32)
    units = models.CharField(max_length=20, blank=True, help_text="Engineering units, e.g. °C, bar, rpm")
    scale = models.FloatField(default=1.0, help_text="Engineering value = raw value x scale + offset")
    offset = models.FloatField(default=0.0)
    deadband = models.FloatField(default=0.0, help_text="Absolute change below which a new value is not stored")
    span_low = models.FloatField(default=0.0, help_text="Lower end of the normal range (chart axis)")
    span_high = models.FloatField(default=100.0, help_text="Upper end of the normal range (chart axis)")
    value_labels = models.JSONField(
        default=dict, blank=True, help_text='Names for discrete values, e.g. {"0": "Idle", "1": "Running"}'
    )
    is_key = models.BooleanField(default=False, help_text="Shown on the machine's card in the plant overview")
    historize = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["path"]
        indexes = [models.Index(fields=["device", "scan_class"], name="tag_device_scan_class_idx")]

    def __str__(self) -> str:
        return self.path

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.device_id is not None:
            try:
                validate_tag_address(protocol=self.device.protocol, address=self.address, data_type=self.data_type)
            except InvalidTagAddress as exc:
                errors["address"] = str(exc)
        if self.span_high <= self.span_low:
            errors["span_high"] = "The upper end of the range must be above the lower end."
        if self.deadband < 0:
            errors["deadband"] = "A deadband cannot be negative."
        if not isinstance(self.value_labels, dict):
            errors["value_labels"] = 'Value labels must be an object such as {"0": "Idle"}.'
        if errors:
            raise ValidationError(errors)

    def value_label(self, value: float | None) -> str | None:
        if value is None or not self.value_labels:
            return None
        return self.value_labels.get(str(int(value)))
