"""Value labels (PI's digital state sets, Ignition's enumerations): names and colours for a discrete tag's values.

One set serves many tags (every machine's state tag shares "Machine state"); a tag points at its set.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}\Z", "A colour is written #rrggbb, e.g. #2e7d32.")


class ValueLabelSet(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="Named in the tag CSV's value_labels column")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def by_value(self) -> dict[int, ValueLabel]:
        """The entries by value (through the prefetch cache when `entries` was prefetched)."""
        return {entry.value: entry for entry in self.entries.all()}

    def as_json(self) -> dict[str, dict[str, str]]:
        """For the pages: {"1": {"label": "Running", "colour": "#2e7d32"}} (keys as JSON must be strings)."""
        return {str(e.value): {"label": e.label, "colour": e.colour} for e in self.entries.all()}


class ValueLabel(models.Model):
    set = models.ForeignKey(ValueLabelSet, on_delete=models.CASCADE, related_name="entries")
    value = models.BigIntegerField(help_text="The tag's value (booleans: 0 and 1)")
    label = models.CharField(max_length=100)
    colour = models.CharField(max_length=7, blank=True, validators=[colour_validator], help_text="#rrggbb")

    class Meta:
        ordering = ["set", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["set", "value"],
                name="value_label_unique_value",
                violation_error_message="This set already has a label for this value.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.value}: {self.label}"
