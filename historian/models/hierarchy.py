"""The ISA-95 equipment hierarchy: Site -> Area -> Line -> Machine."""

from django.db import models


class Site(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin")

    class Meta:
        ordering = ["name"]
        # Plant-wide rights, checked by the pages and the API (the roles that hold them: accounts/services/roles.py).
        permissions = [
            ("view_plant", "Can view the plant dashboards and live values"),
            ("use_trend_explorer", "Can use the trend explorer"),
            ("export_data", "Can export history and configuration"),
        ]

    def __str__(self) -> str:
        return self.name


class Area(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="areas")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="area_unique_name_per_site")]

    def __str__(self) -> str:
        return f"{self.site.name}/{self.name}"


class Line(models.Model):
    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="lines")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["area__site__name", "area__name", "name"]
        constraints = [models.UniqueConstraint(fields=["area", "name"], name="line_unique_name_per_area")]

    def __str__(self) -> str:
        return f"{self.area}/{self.name}"


class Machine(models.Model):
    line = models.ForeignKey(Line, on_delete=models.PROTECT, related_name="machines")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    state_tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The tag whose value is the machine state (its value labels name the states).",
    )

    class Meta:
        ordering = ["line__area__site__name", "line__area__name", "line__name", "name"]
        constraints = [models.UniqueConstraint(fields=["line", "name"], name="machine_unique_name_per_line")]

    def __str__(self) -> str:
        return f"{self.line}/{self.name}"
