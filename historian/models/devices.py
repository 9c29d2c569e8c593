"""Where values come from: devices (PLCs, gateways, servers) and the scan classes that pace their polling."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Protocol(models.TextChoices):
    MODBUS = "modbus", "Modbus TCP"


class DeviceStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not polled yet"
    CONNECTED = "connected", "Connected"
    ERROR = "error", "Communication error"
    DISABLED = "disabled", "Disabled"


class WordOrder(models.TextChoices):
    BIG = "big", "Big endian (high word first)"
    LITTLE = "little", "Little endian (low word first)"


class Device(models.Model):
    name = models.CharField(max_length=100, unique=True)
    protocol = models.CharField(max_length=20, choices=Protocol.choices, default=Protocol.MODBUS)
    host = models.CharField(max_length=255, help_text="Host name or IP address")
    port = models.PositiveIntegerField(default=502, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    unit_id = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(255)], help_text="Modbus unit (slave) id behind the address"
    )
    word_order = models.CharField(max_length=10, choices=WordOrder.choices, default=WordOrder.BIG)
    timeout_seconds = models.FloatField(default=2.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)])
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    # Connection status, written by the ingest service after every poll attempt.
    status = models.CharField(max_length=20, choices=DeviceStatus.choices, default=DeviceStatus.UNKNOWN)
    last_error = models.TextField(blank=True)
    last_good_read_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScanClass(models.Model):
    name = models.CharField(max_length=50, unique=True)
    period_ms = models.PositiveIntegerField(
        validators=[MinValueValidator(100), MaxValueValidator(86_400_000)],
        help_text="Poll period in milliseconds",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["period_ms", "name"]
        verbose_name_plural = "scan classes"

    def __str__(self) -> str:
        return f"{self.name} ({self.period_ms} ms)"

    @property
    def period_seconds(self) -> float:
        return self.period_ms / 1000
