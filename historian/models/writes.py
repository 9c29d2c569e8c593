"""Writes to the plant (issue 14): each writable tag's write policy, who may operate where, and each write request.

The rules are enforced by ingest.services.writes; these are the settings it reads and the requests it keeps.
Off by default at every level: a write needs the device's `writes_enabled`, the tag's `writable`, and a
WritePolicy for the tag (no policy: no write).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from .area_grants import AreaGrant, group_xor_user


class ConfirmationMode(models.TextChoices):
    DIRECT = "direct", "Direct: written when asked"
    ARM = "arm", "Arm, then confirm within the arm window (select-before-operate)"
    TWO_PERSON = "two_person", "Two-person: a second user who may operate approves"


class InterlockComparison(models.TextChoices):
    EQ = "eq", "="
    NE = "ne", "≠"
    LT = "lt", "<"
    LE = "le", "≤"
    GT = "gt", ">"
    GE = "ge", "≥"


class WritePolicy(models.Model):
    """What may be written to one writable tag, and how it is confirmed. Values in the tag's engineering units."""

    tag = models.OneToOneField("historian.Tag", on_delete=models.CASCADE, related_name="write_policy")
    min_value = models.FloatField(help_text="The lowest value that may be written")
    max_value = models.FloatField(help_text="The highest value that may be written")
    max_step = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="The largest change from the current value in one write; empty: any",
    )
    max_rate_per_second = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=(
            "The fastest change, per second since the last write of this tag, from the current value; empty: any"
        ),
    )
    min_interval_seconds = models.FloatField(
        default=0, validators=[MinValueValidator(0)], help_text="The shortest time between two writes of this tag"
    )
    interlock_tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A write is allowed only while this tag's current value meets the condition below",
    )
    interlock_comparison = models.CharField(max_length=2, choices=InterlockComparison.choices, blank=True)
    interlock_value = models.FloatField(null=True, blank=True)
    confirmation = models.CharField(max_length=12, choices=ConfirmationMode.choices, default=ConfirmationMode.ARM)
    confirm_within_seconds = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="Arm: how long an armed write waits for its confirmation; two-person: for its approval",
    )

    class Meta:
        verbose_name_plural = "write policies"
        ordering = ["tag"]
        permissions = [
            ("operate", "Can write setpoints and commands in the areas granted (OperateArea)"),
            ("operate_any_area", "Can write setpoints and commands in every area"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_value__lte=models.F("max_value")),
                name="write_policy_min_le_max",
                violation_error_message="The lowest value is above the highest.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(interlock_tag__isnull=True, interlock_comparison="", interlock_value__isnull=True)
                    | (Q(interlock_tag__isnull=False, interlock_value__isnull=False) & ~Q(interlock_comparison=""))
                ),
                name="write_policy_interlock_complete",
                violation_error_message="An interlock needs its tag, its comparison and its value (or none of them).",
            ),
        ]

    def __str__(self) -> str:
        return f"Write policy of {self.tag}"

    def clean(self) -> None:
        if self.interlock_tag_id is not None and self.interlock_tag_id == self.tag_id:
            raise ValidationError({"interlock_tag": "A tag cannot interlock itself."})

    def interlock_text(self) -> str:
        if self.interlock_tag_id is None:
            return ""
        return f"{self.interlock_tag} {self.get_interlock_comparison_display()} {self.interlock_value:g}"


class OperateArea(AreaGrant):
    """Where holders of historian.operate may write: an area, for a group or one user. Holders of
    historian.operate_any_area need none."""

    class Meta(AreaGrant.Meta):
        constraints = [group_xor_user("operate_area_group_xor_user")]


class WriteRequestState(models.TextChoices):
    ARMED = "armed", "Armed, waiting for its confirmation"
    AWAITING_APPROVAL = "awaiting_approval", "Waiting for a second person's approval"
    EXECUTED = "executed", "Executed"
    REFUSED = "refused", "Refused"
    EXPIRED = "expired", "Expired"


class WriteRequest(models.Model):
    """One request to write a tag, from its arming or asking to its outcome. A refused request that never got a
    row (refused at once) is only in the audit trail; this table holds what was armed, asked or written, so the
    minimum interval and the rate of change are measured from the last executed write."""

    tag = models.ForeignKey("historian.Tag", on_delete=models.CASCADE, related_name="write_requests")
    value = models.FloatField()
    token = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=20, choices=WriteRequestState.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_via = models.CharField(max_length=150, blank=True, help_text="The API token's name, if through one")
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    executed_at = models.DateTimeField(null=True, blank=True)
    sent = models.BooleanField(default=False)
    old_value = models.FloatField(null=True, blank=True)
    read_back = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=20, blank=True, help_text="confirmed, mismatched or failed")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["tag", "executed_at"], name="write_request_tag_executed")]

    def __str__(self) -> str:
        return f"{self.tag} := {self.value:g} ({self.get_state_display()})"
