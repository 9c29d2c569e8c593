"""Maintenance: health models per machine (versioned fits) and maintenance work requests with their comments.

Health scores are not stored here: they are derived tags (historian), written through the normal store.
"""

from django.conf import settings
from django.db import models

from historian.models.area_grants import AreaGrant, group_xor_user


class HealthModel(models.Model):
    """What the health of one machine is computed from: its signals, the training window and when to score."""

    machine = models.OneToOneField("historian.Machine", on_delete=models.CASCADE, related_name="health_model")
    enabled = models.BooleanField(default=True)
    component = models.CharField(
        max_length=100, default="spindle bearing", help_text="What a work request opened by this model is about"
    )
    signals = models.ManyToManyField(
        "historian.Tag", related_name="+", help_text="The machine's analog tags the model watches"
    )
    training_start = models.DateTimeField(null=True, blank=True, help_text="Empty: proposed automatically")
    training_end = models.DateTimeField(null=True, blank=True)
    auto_train_minutes = models.FloatField(
        default=60.0, help_text="A proposed training window is this much normal running after its start"
    )
    sample_seconds = models.FloatField(default=10.0, help_text="Training rows: the signals every this many seconds")
    running_only = models.BooleanField(
        default=True, help_text="Train and score only while the machine is Running (production's state intervals)"
    )
    product = models.ForeignKey(
        "production.Product",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Train on this product only (empty: every product)",
    )
    # Alerting (maintenance/services/alerts.py).
    planning_horizon_hours = models.FloatField(
        default=24.0, help_text="Alert when the RUL's lower bound falls inside this horizon"
    )
    failure_score = models.FloatField(
        default=8.0, help_text="Health score at which the machine counts as failed (the RUL is the time to reach it)"
    )
    score_high = models.FloatField(default=1.0, help_text="Health score at or above which the score is high")
    score_high_minutes = models.FloatField(default=5.0, help_text="Alert when the score stays high this long")
    # The derived tags this model writes (created by maintenance.services.derived).
    score_tag = models.ForeignKey("historian.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    contribution_tag = models.ForeignKey(
        "historian.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rul_median_tag = models.ForeignKey(
        "historian.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    alert_tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="1 while the model alerts (its alarm definition carries the explanation), else 0",
    )
    rul_low_tag = models.ForeignKey("historian.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    rul_high_tag = models.ForeignKey(
        "historian.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Closing a work request as done writes this value to this tag (e.g. the PLC's "maintenance done" command),
    # through the tag's write policy (ingest.services.writes); empty: nothing is written.
    maintenance_command_tag = models.ForeignKey(
        "historian.Tag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    maintenance_command_value = models.FloatField(null=True, blank=True)
    # The fit scores are computed with; empty until the first fit and after re-baselining (then the next fit is
    # proposed from the normal running that follows).
    current_version = models.ForeignKey(
        "maintenance.HealthModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set when the model alerted; cleared by re-baselining (a work request closed as done).
    alerted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["machine"]
        permissions = [("fit_health_model", "Can fit and retrain machines' health models")]

    def __str__(self) -> str:
        return f"Health of {self.machine}"


class HealthModelVersion(models.Model):
    """One fit: the numerics' model (maintenance.health.pca.PcaModel as JSON) and what it was fitted on."""

    health_model = models.ForeignKey(HealthModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    fitted_at = models.DateTimeField(auto_now_add=True)
    fitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    training_start = models.DateTimeField()
    training_end = models.DateTimeField()
    samples = models.PositiveIntegerField(help_text="Rows (time steps) the model was fitted on")
    signal_tags = models.JSONField(default=dict, help_text="Signal name -> tag id, as the model names them")
    model = models.JSONField(help_text="The fitted model (PcaModel.to_json)")
    reason = models.CharField(
        max_length=200, blank=True, help_text="Why it was fitted (first fit, retrain, maintenance)"
    )

    class Meta:
        ordering = ["health_model", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["health_model", "version"], name="maintenance_model_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.health_model.machine} v{self.version}"


class RequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    PLANNED = "planned", "Planned"
    DONE = "done", "Done"


class MaintenanceRequest(models.Model):
    machine = models.ForeignKey("historian.Machine", on_delete=models.PROTECT, related_name="maintenance_requests")
    component = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    evidence = models.JSONField(
        default=dict, blank=True, help_text="Score trend, contributing signals and RUL when it was opened"
    )
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    planned_for = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Opened by the health monitor (created_by empty) rather than a person.
    by_monitor = models.BooleanField(default=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    done_note = models.TextField(blank=True, help_text="What was done")

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("work_requests", "Can open, plan, comment and close work requests in the areas granted (MaintenanceArea)"),
            ("work_requests_any_area", "Can open, plan, comment and close work requests in every area"),
        ]
        indexes = [models.Index(fields=["machine", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.machine}: {self.title}"


class RequestComment(models.Model):
    request = models.ForeignKey(MaintenanceRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"comment on #{self.request_id}"


class MaintenanceArea(AreaGrant):
    """Where holders of maintenance.work_requests may work on requests: an area, for a group or for one user."""

    class Meta(AreaGrant.Meta):
        verbose_name = "maintenance area"
        constraints = [group_xor_user("maintenance_area_group_xor_user")]
