"""What is on the OT network as Millwright sees it: every PLC, server and edge node it talks to, and what changed.

Millwright learns an asset's identity on its own, from the protocols: Modbus device identification (function 43/14),
OPC UA BuildInfo and server certificate, Sparkplug B births. Nobody types these rows; they are observations.
"""

from django.conf import settings
from django.db import models


class AssetProtocol(models.TextChoices):
    MODBUS = "modbus", "Modbus TCP"
    OPCUA = "opcua", "OPC UA"
    SPARKPLUG = "sparkplug", "MQTT Sparkplug B"


class Asset(models.Model):
    protocol = models.CharField(max_length=20, choices=AssetProtocol.choices)
    key = models.CharField(
        max_length=300,
        help_text="How the protocol names it: host:port/unit for Modbus, the endpoint for OPC UA, "
        "group/edge node[/device] for Sparkplug B",
    )
    device = models.ForeignKey(
        "historian.Device",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assets",
        help_text="The configured device it answers for; empty: seen on the network but not configured",
    )
    name = models.CharField(max_length=200, blank=True)
    addresses = models.JSONField(default=list, help_text="Network addresses it was reached at or published from")
    identity = models.JSONField(default=dict, help_text="What it says it is: vendor, product, revision, build...")
    certificate_thumbprint = models.CharField(max_length=64, blank=True, help_text="SHA-256 of its certificate")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    changed_at = models.DateTimeField(null=True, blank=True, help_text="Last change of identity or certificate")
    # The communication baseline (inventory.services.baseline): what is normal for this asset, and who said so.
    baseline_accepted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When an administrator accepted it as belonging on the network (a Sparkplug edge node or device "
        "that is not configured as a device is otherwise reported as unknown)",
    )
    baseline_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    endpoints = models.JSONField(
        default=list,
        blank=True,
        help_text="The OPC UA endpoints it offered when last asked: URL, security mode and policy of each",
    )
    communication = models.JSONField(
        default=dict,
        blank=True,
        help_text="Its learned communication: polls per minute and response times, saved from time to time",
    )

    class Meta:
        ordering = ["protocol", "key"]
        constraints = [models.UniqueConstraint(fields=["protocol", "key"], name="inventory_asset_protocol_key")]
        permissions = [("accept_into_baseline", "Can accept an asset into the communication baseline")]

    def __str__(self) -> str:
        return f"{self.get_protocol_display()} {self.key}"


class AssetChange(models.Model):
    """One observed change of an asset: a new firmware, a swapped PLC, a new certificate, a new address."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField()
    field = models.CharField(max_length=100)
    before = models.TextField(blank=True)
    after = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["asset", "-at"], name="inventory_change_asset_at")]

    def __str__(self) -> str:
        return f"{self.asset}: {self.field} {self.before!r} -> {self.after!r}"
