"""Alarm definitions (configuration, in admin), alarm runtime state, the journal, notification routes."""

import string

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from alarms.state_machine import Kind, State


class Priority(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


#: Sort order (0 first) and the colour each priority is shown in (also in static/css/alarms.css).
PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}
PRIORITY_COLOUR = {
    Priority.CRITICAL: "#f31e19",
    Priority.HIGH: "#ff9b0a",
    Priority.MEDIUM: "#fef696",
    Priority.LOW: "#079dcf",
}


class AlarmKind(models.TextChoices):
    HIHI = Kind.HIHI.value, "High-high limit"
    HI = Kind.HI.value, "High limit"
    LO = Kind.LO.value, "Low limit"
    LOLO = Kind.LOLO.value, "Low-low limit"
    DEVIATION = Kind.DEVIATION.value, "Deviation from a setpoint tag"
    RATE_OF_CHANGE = Kind.RATE_OF_CHANGE.value, "Rate of change (per minute)"
    DISCRETE_EQUALS = Kind.DISCRETE_EQUALS.value, "Discrete state equals"
    DISCRETE_NOT_EQUALS = Kind.DISCRETE_NOT_EQUALS.value, "Discrete state not equals"
    BAD_QUALITY = Kind.BAD_QUALITY.value, "Bad quality"
    SECURITY = Kind.SECURITY.value, "Security event (raised by a detector, not by a tag)"


class AlarmCategory(models.TextChoices):
    """Process alarms watch a tag and go to the operators of its area; security alarms are raised by the
    communication baseline's detectors (inventory.security_events), watch no tag, and are seen only by holders of
    alarms.view_security_alarms."""

    PROCESS = "process", _("Process")
    SECURITY = "security", _("Security")


class AlarmState(models.TextChoices):
    NORMAL = State.NORMAL.value, _("Normal")
    UNACK_ACTIVE = State.UNACK_ACTIVE.value, _("Unacknowledged, active")
    ACK_ACTIVE = State.ACK_ACTIVE.value, _("Acknowledged, active")
    UNACK_RTN = State.UNACK_RTN.value, _("Unacknowledged, returned to normal")
    LATCHED = State.LATCHED.value, _("Latched, waiting for reset")
    SHELVED = State.SHELVED.value, _("Shelved")
    SUPPRESSED = State.SUPPRESSED.value, _("Suppressed by design")
    OUT_OF_SERVICE = State.OUT_OF_SERVICE.value, _("Out of service")


class Comparison(models.TextChoices):
    EQUALS = "eq", "equals"
    NOT_EQUALS = "ne", "does not equal"


MESSAGE_FIELDS = ("value", "units", "limit", "setpoint", "tag", "machine", "name")
_LIMIT_KINDS = {k.value for k in Kind} - {Kind.BAD_QUALITY.value, Kind.SECURITY.value}


def validate_message(template: str) -> None:
    try:
        names = [name for _, name, spec, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValidationError(f"The message is not a valid template: {exc}.") from None
    unknown = sorted({n for n in names if n not in MESSAGE_FIELDS})
    if unknown or any(not n for n in names):
        raise ValidationError(
            f"Unknown placeholder {unknown or ['{}']}; use {', '.join('{' + f + '}' for f in MESSAGE_FIELDS)}."
        )


class AlarmDefinition(models.Model):
    category = models.CharField(max_length=10, choices=AlarmCategory.choices, default=AlarmCategory.PROCESS)
    tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alarm_definitions",
        help_text="The tag a process alarm watches (security alarms watch none).",
    )
    source = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text="Security alarms: what raises them (the event's kind and subject), one alarm per source.",
    )
    name = models.CharField(max_length=100, help_text="Short name, e.g. 'Motor temperature high'")
    kind = models.CharField(max_length=20, choices=AlarmKind.choices)
    limit = models.FloatField(
        null=True,
        blank=True,
        help_text="Limit; allowed deviation for a deviation alarm; units per minute for rate of change; "
        "the state for a discrete alarm. Empty for bad quality.",
    )
    setpoint_tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Deviation alarms: the tag holding the setpoint.",
    )
    deadband = models.FloatField(default=0.0, validators=[MinValueValidator(0)])
    on_delay_seconds = models.FloatField(default=0.0, validators=[MinValueValidator(0), MaxValueValidator(86400)])
    off_delay_seconds = models.FloatField(default=0.0, validators=[MinValueValidator(0), MaxValueValidator(86400)])
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    message = models.CharField(
        max_length=300,
        validators=[validate_message],
        help_text="Shown to the operator, e.g. '{machine} motor temperature {value} {units} above {limit} {units}'",
    )
    latching = models.BooleanField(default=False, help_text="Stays in the list after returning until reset")
    suppress_tag = models.ForeignKey(
        "historian.Tag",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Suppressed by design while this tag's value meets the condition below (e.g. machine state).",
    )
    suppress_when = models.CharField(max_length=2, choices=Comparison.choices, default=Comparison.NOT_EQUALS)
    suppress_value = models.FloatField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "tag__path", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tag", "name"], name="alarm_definition_unique_name_per_tag"),
            models.UniqueConstraint(
                fields=["source"], condition=Q(category="security"), name="alarm_definition_unique_security_source"
            ),
            # A process alarm watches a tag; a security alarm watches none and is keyed by its source.
            models.CheckConstraint(
                condition=(Q(category="process") & Q(tag__isnull=False) & ~Q(kind="security"))
                | (Q(category="security") & Q(tag__isnull=True) & Q(kind="security") & ~Q(source="")),
                name="alarm_definition_category_matches_tag",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tag.path}: {self.name}" if self.tag_id and self.tag is not None else self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.category == AlarmCategory.SECURITY or self.kind == Kind.SECURITY:
            # Raised by detectors (alarms.services.security), never typed in: admin may rename, reprioritise or
            # disable one, not turn a process alarm into a security one or back.
            if self.category != AlarmCategory.SECURITY or self.kind != Kind.SECURITY:
                errors["kind"] = "Security alarms are raised by the security detectors, not defined on a tag."
            if self.tag_id is not None:
                errors["tag"] = "A security alarm watches no tag."
            if errors:
                raise ValidationError(errors)
            return
        if self.tag is None:  # (a tag the same tag CSV creates is set here unsaved, without an id yet)
            errors["tag"] = "A process alarm watches a tag."
        if self.kind in _LIMIT_KINDS and self.limit is None:
            errors["limit"] = "This kind of alarm needs a limit."
        if self.kind == Kind.DEVIATION and self.setpoint_tag_id is None:
            errors["setpoint_tag"] = "A deviation alarm needs the tag that holds its setpoint."
        if self.kind in (Kind.DEVIATION, Kind.RATE_OF_CHANGE) and self.limit is not None and self.limit <= 0:
            errors["limit"] = "The allowed deviation or rate must be above zero."
        if self.suppress_tag_id is not None and self.suppress_value is None:
            errors["suppress_value"] = "Give the value the suppression condition compares with."
        if self.deadband is not None and self.deadband < 0:
            errors["deadband"] = "A deadband cannot be negative."
        if (
            self.kind
            and self.kind != Kind.BAD_QUALITY
            and self.tag_id is not None
            and self.tag is not None
            and self.tag.is_text
        ):
            # The evaluation sees a string tag's quality only: any other kind would never trip.
            errors["kind"] = "A string tag holds text: it takes bad-quality alarms only."
        if errors:
            raise ValidationError(errors)


class Alarm(models.Model):
    """The runtime state of one alarm definition, written by the evaluation and by operator actions."""

    definition = models.OneToOneField(
        AlarmDefinition, on_delete=models.CASCADE, primary_key=True, related_name="runtime"
    )
    state = models.CharField(max_length=20, choices=AlarmState.choices, default=AlarmState.NORMAL)
    condition = models.BooleanField(default=False)
    pending_since = models.DateTimeField(null=True, blank=True)
    clearing_since = models.DateTimeField(null=True, blank=True)
    shelved_until = models.DateTimeField(null=True, blank=True)
    suppressed = models.BooleanField(default=False)
    out_of_service = models.BooleanField(default=False)

    value = models.FloatField(null=True, blank=True, help_text="The value at the last transition")
    message = models.CharField(max_length=400, blank=True)
    active_since = models.DateTimeField(null=True, blank=True, help_text="Last annunciation")
    changed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Security alarms: what the detector saw (its latest occurrence), and how often it was seen again while the
    # alarm waited for acknowledgement (0: once).
    evidence = models.JSONField(default=dict, blank=True)
    repeat_count = models.PositiveIntegerField(default=0)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("view_security_alarms", "Can see security alarms and their evidence"),
            ("acknowledge_alarm", "Can acknowledge alarms"),
            ("shelve_alarm", "Can shelve and unshelve alarms"),
            ("set_alarm_out_of_service", "Can take alarms out of service and back"),
        ]
        indexes = [models.Index(fields=["state"], name="alarm_state_idx")]

    def __str__(self) -> str:
        return f"{self.definition} ({self.state})"


class JournalEntry(models.Model):
    """One transition of one alarm. The table is append-only and range-partitioned by month (migration 0002)."""

    time = models.DateTimeField()
    alarm = models.ForeignKey(
        AlarmDefinition, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    event = models.CharField(max_length=20)
    state = models.CharField(max_length=20)
    previous_state = models.CharField(max_length=20)
    value = models.FloatField(null=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True)
    comment = models.TextField(blank=True)
    # Snapshots, so the journal reads the same after a definition is renamed or deleted.
    priority = models.CharField(max_length=10)
    alarm_name = models.CharField(max_length=100)
    tag_path = models.CharField(max_length=255)
    message = models.CharField(max_length=400, blank=True)
    # Empty for a security alarm (no tag, so no place in the plant).
    area_id = models.IntegerField(null=True)
    line_id = models.IntegerField(null=True)
    machine_id = models.IntegerField(null=True)
    # A database default as well: the journal's own SQL (partition moves, raw inserts) may leave it out.
    category = models.CharField(max_length=10, default=AlarmCategory.PROCESS, db_default=AlarmCategory.PROCESS)
    evidence = models.JSONField(null=True)

    class Meta:
        db_table = "alarms_journal"
        ordering = ["-time", "-id"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.tag_path or self.alarm_name} {self.event} -> {self.state}"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook (JSON POST, HMAC-SHA256 signed)"


class NotificationRoute(models.Model):
    """Who hears of which alarms: by minimum priority and area; an escalation route fires after N minutes."""

    name = models.CharField(max_length=100, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=500, help_text="Email addresses (comma-separated) or the webhook URL")
    secret = models.CharField(max_length=200, blank=True, help_text="Webhooks: the HMAC-SHA256 signing key")
    min_priority = models.CharField(
        max_length=10, choices=Priority.choices, default=Priority.HIGH, help_text="This priority and above"
    )
    category = models.CharField(
        max_length=10,
        choices=AlarmCategory.choices,
        default=AlarmCategory.PROCESS,
        help_text="Security routes carry security alarms and their evidence: send them only to those who may see them.",
    )
    area = models.ForeignKey(
        "historian.Area",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="Empty: every area (process routes only; security alarms belong to no area)",
    )
    escalate_after_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Empty: notify when the alarm activates. Set: notify when it stays unacknowledged this long.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.validators import EmailValidator, URLValidator

        if self.channel == Channel.WEBHOOK:
            try:
                URLValidator(schemes=["http", "https"])(self.target)
            except ValidationError:
                raise ValidationError({"target": "Give the webhook's http(s) URL."}) from None
            if not self.secret:
                raise ValidationError({"secret": "A webhook needs a signing secret."})
        elif self.channel == Channel.EMAIL:
            for address in self.target.split(","):
                try:
                    EmailValidator()(address.strip())
                except ValidationError:
                    raise ValidationError({"target": f"{address.strip()!r} is not an email address."}) from None
        if self.category == AlarmCategory.SECURITY and self.area_id is not None:
            raise ValidationError({"area": "Security alarms belong to no area: leave the area empty."})

    def matches(self, *, priority: str, area_id: int | None, category: str = AlarmCategory.PROCESS) -> bool:
        return (
            self.enabled
            and self.category == category
            and PRIORITY_RANK[Priority(priority)] <= PRIORITY_RANK[Priority(self.min_priority)]
            and (self.area_id is None or self.area_id == area_id)
        )


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"


class NotificationDelivery(models.Model):
    """One notification of one alarm annunciation over one route; unique so that an escalation fires once."""

    route = models.ForeignKey(NotificationRoute, on_delete=models.CASCADE, related_name="deliveries")
    alarm = models.ForeignKey(AlarmDefinition, on_delete=models.CASCADE, related_name="+")
    annunciated_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "notification deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["route", "alarm", "annunciated_at"], name="notification_once_per_route_and_annunciation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.route} / {self.alarm_id} @ {self.annunciated_at:%Y-%m-%d %H:%M:%S}"
