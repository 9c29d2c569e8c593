"""Where values come from: devices (PLCs, gateways, servers) and the scan classes that pace their polling."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Protocol(models.TextChoices):
    MODBUS = "modbus", "Modbus TCP"
    OPCUA = "opcua", "OPC UA"
    SPARKPLUG = "sparkplug", "MQTT Sparkplug B"
    # Values computed by Millwright itself (maintenance's health scores), written through the normal store; nobody
    # polls or subscribes to a derived device (ingest.acquisition.poll.polled_assignments leaves it out).
    DERIVED = "derived", "Derived (computed by Millwright)"


class DeviceStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not polled yet"
    CONNECTED = "connected", "Connected"
    ERROR = "error", "Communication error"
    DISABLED = "disabled", "Disabled"


class WordOrder(models.TextChoices):
    BIG = "big", "Big endian (high word first)"
    LITTLE = "little", "Little endian (low word first)"


class ByteOrder(models.TextChoices):
    BIG = "big", "Big endian (high byte first, the Modbus standard)"
    LITTLE = "little", "Little endian (bytes swapped in each register)"


class TimestampSource(models.TextChoices):
    SOURCE = "source", "Source time (the device's timestamp of each value)"
    SCAN = "scan", "Scan time (when the poll started, one time per scan)"


class OpcUaSecurityPolicy(models.TextChoices):
    NONE = "None", "None"
    BASIC256SHA256 = "Basic256Sha256", "Basic256Sha256"


class OpcUaSecurityMode(models.TextChoices):
    NONE = "None", "None"
    SIGN = "Sign", "Sign"
    SIGN_AND_ENCRYPT = "SignAndEncrypt", "Sign and encrypt"


class Device(models.Model):
    name = models.CharField(max_length=100, unique=True)
    protocol = models.CharField(max_length=20, choices=Protocol.choices, default=Protocol.MODBUS)
    host = models.CharField(max_length=255, help_text="Host name or IP address")
    port = models.PositiveIntegerField(default=502, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    unit_id = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(255)], help_text="Modbus unit (slave) id behind the address"
    )
    word_order = models.CharField(max_length=10, choices=WordOrder.choices, default=WordOrder.BIG)
    byte_order = models.CharField(
        max_length=10,
        choices=ByteOrder.choices,
        default=ByteOrder.BIG,
        help_text="Order of the two bytes inside each register (little: byte-swapped devices)",
    )
    max_gap_registers = models.PositiveSmallIntegerField(
        default=8,
        validators=[MaxValueValidator(120)],
        help_text="Unused registers read to join two reads into one request (0: never read unused registers)",
    )
    max_gap_bits = models.PositiveSmallIntegerField(
        default=32,
        validators=[MaxValueValidator(1999)],
        help_text="Unused coils or discrete inputs read to join two reads into one request",
    )
    timeout_seconds = models.FloatField(default=2.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)])
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    # Quarantine (ingest/services/quarantine.py): still read, values marked "uncertain: quarantined", never written.
    quarantined_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set by the Quarantine action; empty: not quarantined"
    )
    quarantine_reason = models.CharField(max_length=300, blank=True, editable=False)
    # Writes (issue 14, ingest/services/writes.py): off until an administrator enables them (an audited action,
    # ingest.services.writes.device_writes_set), so not editable in the device form.
    writes_enabled = models.BooleanField(
        default=False,
        editable=False,
        help_text="Millwright may write to this device's writable tags, under their write policies",
    )

    # OPC UA connection (protocol "opcua"); the endpoint is opc.tcp://host:port unless endpoint_url is set.
    endpoint_url = models.CharField(
        max_length=500, blank=True, help_text="OPC UA: e.g. opc.tcp://plc1:4840/server (default opc.tcp://host:port)"
    )
    security_policy = models.CharField(
        max_length=30, choices=OpcUaSecurityPolicy.choices, default=OpcUaSecurityPolicy.NONE
    )
    security_mode = models.CharField(
        max_length=20,
        choices=OpcUaSecurityMode.choices,
        default=OpcUaSecurityMode.NONE,
        verbose_name="message security mode",
    )
    client_certificate = models.CharField(
        max_length=500, blank=True, help_text="OPC UA: path of the client certificate (PEM or DER)"
    )
    client_private_key = models.CharField(
        max_length=500, blank=True, help_text="OPC UA: path of the client private key (PEM or DER)"
    )
    server_certificate = models.CharField(
        max_length=500,
        blank=True,
        help_text="OPC UA: path of the trusted (pinned) server certificate; empty: trust the one the server shows",
    )
    username = models.CharField(max_length=200, blank=True, help_text="OPC UA: user name; empty: anonymous")
    password = models.CharField(max_length=200, blank=True)
    publishing_interval_ms = models.PositiveIntegerField(
        default=500,
        validators=[MinValueValidator(50), MaxValueValidator(3_600_000)],
        help_text="OPC UA subscriptions: how often the server sends the changes it has collected",
    )
    timestamp_source = models.CharField(
        "timestamps",
        max_length=10,
        choices=TimestampSource.choices,
        default=TimestampSource.SOURCE,
        help_text=(
            "OPC UA: the time each value is stored at. Source time (the default, as historians do): the server's "
            "SourceTimestamp of the value, else its ServerTimestamp, else the scan time (also when the PLC clock "
            "is more than an hour off); kept to 100 ms, and a value the server still shows with the timestamp "
            "already stored is not stored again. Scan time: when the poll started, one timestamp for every value "
            "of a scan. Modbus values carry no timestamp: always scan time."
        ),
    )
    use_subscriptions = models.BooleanField(
        default=False,
        help_text="OPC UA: the server pushes changes (run_subscriptions) instead of Celery polling the tags",
    )

    # MQTT Sparkplug B (protocol "sparkplug"): host and port are the broker's, username and password its login.
    # Without an edge node id the device stands for the broker: run_sparkplug listens there and creates a
    # (disabled, "discovered") device per edge node and per device that publishes a birth.
    sparkplug_group_id = models.CharField(
        max_length=100, blank=True, help_text="Sparkplug: group id; empty on a broker device: every group"
    )
    sparkplug_edge_node_id = models.CharField(
        max_length=100, blank=True, help_text="Sparkplug: edge node id; empty: this device is the broker itself"
    )
    sparkplug_device_id = models.CharField(
        max_length=100, blank=True, help_text="Sparkplug: device id behind the edge node; empty: the edge node"
    )
    discovered = models.BooleanField(
        default=False, help_text="Created from a birth message; an administrator reviews and enables it"
    )

    # Connection status, written by the ingest service after every poll attempt.
    status = models.CharField(max_length=20, choices=DeviceStatus.choices, default=DeviceStatus.UNKNOWN)
    last_error = models.TextField(blank=True)
    last_good_read_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        permissions = [("enable_device_writes", "Can enable and disable writes to a device")]

    def __str__(self) -> str:
        return self.name

    @property
    def opcua_endpoint(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"opc.tcp://{host}:{self.port}"

    def clean(self) -> None:
        if self.protocol == Protocol.SPARKPLUG:
            self._clean_sparkplug()
        if self.protocol != Protocol.OPCUA:
            return
        errors: dict[str, str] = {}
        if self.endpoint_url and not self.endpoint_url.startswith("opc.tcp://"):
            errors["endpoint_url"] = "An OPC UA endpoint URL starts with opc.tcp://"
        secure = self.security_policy != OpcUaSecurityPolicy.NONE
        if secure and self.security_mode == OpcUaSecurityMode.NONE:
            errors["security_mode"] = f"Security policy {self.security_policy} needs mode Sign or Sign and encrypt."
        if not secure and self.security_mode != OpcUaSecurityMode.NONE:
            errors["security_mode"] = "Signing and encryption need a security policy such as Basic256Sha256."
        if secure and not (self.client_certificate and self.client_private_key):
            errors["client_certificate"] = "A secure connection needs a client certificate and its private key."
        if self.password and not self.username:
            errors["username"] = "A password needs a user name."
        if errors:
            raise ValidationError(errors)

    def _clean_sparkplug(self) -> None:
        errors: dict[str, str] = {}
        for field in ("sparkplug_group_id", "sparkplug_edge_node_id", "sparkplug_device_id"):
            if set(getattr(self, field)) & set("+#/"):
                errors[field] = "A Sparkplug id is one MQTT topic level: it cannot hold + # or /."
        if self.sparkplug_edge_node_id and not self.sparkplug_group_id:
            errors["sparkplug_group_id"] = "An edge node belongs to a group: give its group id."
        if self.sparkplug_device_id and not self.sparkplug_edge_node_id:
            errors["sparkplug_edge_node_id"] = "A Sparkplug device sits behind an edge node: give its edge node id."
        if self.password and not self.username:
            errors["username"] = "A password needs a user name."
        if errors:
            raise ValidationError(errors)


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
