"""This installation as a Sparkplug B edge node: where it publishes the tags an administrator selected.

The tags are chosen per tag (`Tag.edge_publish`); this row says to which broker, as which group and edge node, and
which primary host application's STATE decides whether publishing may go on (ingest.acquisition.edge_publisher).
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

#: Characters a Sparkplug id may not hold: MQTT wildcards and the topic level separator.
_FORBIDDEN = frozenset("+#/")


def _sparkplug_id(value: str) -> None:
    if _FORBIDDEN & set(value):
        raise ValidationError("A Sparkplug id holds none of + # /.")


class EdgePublication(models.Model):
    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True, help_text="At most one publication is enabled")
    host = models.CharField(max_length=255, help_text="The MQTT broker's host name or IP address")
    port = models.PositiveIntegerField(default=1883, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    username = models.CharField(max_length=200, blank=True, help_text="The broker login; empty: anonymous")
    password = models.CharField(max_length=200, blank=True)
    group_id = models.CharField(max_length=100, validators=[_sparkplug_id], help_text="The Sparkplug group id")
    edge_node_id = models.CharField(
        max_length=100, validators=[_sparkplug_id], help_text="This site's Sparkplug edge node id"
    )
    primary_host_id = models.CharField(
        max_length=100,
        blank=True,
        validators=[_sparkplug_id],
        help_text="The central host application's id: values are published only while its STATE "
        "(spBv1.0/STATE/<id>) says online, and wait on disk otherwise. Empty: publish whenever the broker is up",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["enabled"], condition=models.Q(enabled=True), name="edge_publication_one_enabled"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.group_id}/{self.edge_node_id})"
