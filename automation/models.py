"""Rules and automated responses (issue 14): a condition, actions, versions kept, every firing journalled.

A rule's `condition` and `actions` are JSON documents (automation/specs.py says their shape and validates them);
they name tags, devices, alarm definitions, machines, lines and notification routes by path or name, so that a rule
reads the same in admin, in its exported file and in the journal. Every saved change is a new RuleVersion
(immutable); `version` is the current one's number.
"""

from django.conf import settings
from django.db import models


class Rule(models.Model):
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=False)
    dry_run = models.BooleanField(
        default=True, help_text="Journal what the rule would do, and do nothing. Backtest it before turning it off."
    )
    cooldown_seconds = models.PositiveIntegerField(
        default=300, help_text="No second firing within this many seconds of the previous one"
    )
    condition = models.JSONField(default=dict)
    actions = models.JSONField(default=list)
    run_as = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Whose permission to operate the rule's writes are checked against (the person who enabled it)",
    )
    version = models.PositiveIntegerField(default=0, editable=False)
    # What the beat tick remembers between runs for alarm, KPI and schedule conditions (the state machine's state).
    tick_state = models.JSONField(default=dict, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("backtest_rule", "Can backtest rules over history")]

    def __str__(self) -> str:
        return self.name

    @property
    def requester(self) -> str:
        """How the rule is named as the requester of what it does (the write service's `via`, the audit trail)."""
        return f"rule {self.name} v{self.version}"


class RuleVersion(models.Model):
    """One saved state of a rule; never changed afterwards."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField(help_text="The rule as saved: its file form")
    saved_at = models.DateTimeField(auto_now_add=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    saved_by_name = models.CharField(max_length=150, blank=True)
    comment = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["rule", "-number"]
        constraints = [models.UniqueConstraint(fields=["rule", "number"], name="automation_rule_version_unique")]

    def __str__(self) -> str:
        return f"{self.rule} v{self.number}"


class RuleFiring(models.Model):
    """The journal: each time a rule fired (or would have, in dry run), with the values and each action's outcome."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    version = models.PositiveIntegerField()
    time = models.DateTimeField(db_index=True, help_text="When the condition was met (the value's time)")
    dry_run = models.BooleanField()
    values = models.JSONField(default=dict, help_text="What made it fire")
    outcomes = models.JSONField(default=list, help_text="Each action: what was (or would have been) done")
    done_at = models.DateTimeField(null=True, blank=True, help_text="When the actions were run (empty: pending)")

    class Meta:
        ordering = ["-time", "-id"]

    def __str__(self) -> str:
        return f"{self.rule} v{self.version} at {self.time:%Y-%m-%d %H:%M:%S}"
