"""Metrics that Sparkplug B edge nodes announced in their births, for an administrator to turn into tags."""

from django.db import models


class DiscoveredMetric(models.Model):
    device = models.ForeignKey("historian.Device", on_delete=models.CASCADE, related_name="discovered_metrics")
    name = models.CharField(max_length=200, help_text="The metric name: a tag's address on this device")
    sparkplug_type = models.CharField(max_length=20, help_text="The Sparkplug data type the birth announced")
    data_type = models.CharField(
        max_length=10, blank=True, help_text="The tag data type that holds it; empty: not a number, cannot be a tag"
    )
    alias = models.BigIntegerField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_birth_at = models.DateTimeField()
    tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The tag made from this metric; empty: not stored",
    )

    class Meta:
        ordering = ["device__name", "name"]
        constraints = [models.UniqueConstraint(fields=["device", "name"], name="discovered_metric_unique_name")]

    def __str__(self) -> str:
        return f"{self.device.name}: {self.name}"
