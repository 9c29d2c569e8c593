"""The audit trail's own events: what django-auditlog (configuration changes, before/after) does not record.

Append-only: the database rejects UPDATE and DELETE on this table and on auditlog's (migration 0002).
"""

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    """Known actions. The field takes any string, so a new kind of event needs no migration."""

    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Failed login"
    LOGOUT = "logout", "Logout"
    LOGIN_LOCKOUT = "login_lockout", "Sign-in locked"
    PASSWORD_CHANGE = "password_change", "Password changed"
    TAG_CSV_IMPORT = "tag_csv_import", "Tag CSV import"
    ALARM_ACKNOWLEDGE = "alarm_acknowledge", "Alarm acknowledged"
    ALARM_SHELVE = "alarm_shelve", "Alarm shelved"
    ALARM_UNSHELVE = "alarm_unshelve", "Alarm unshelved"
    TOKEN_CREATE = "token_create", "API token created"
    TOKEN_REVOKE = "token_revoke", "API token revoked"
    PLC_WRITE = "plc_write", "Write to a PLC"
    PLC_WRITE_REFUSED = "plc_write_refused", "Write to a PLC refused"
    PLC_WRITE_ARMED = "plc_write_armed", "Write to a PLC armed"
    PLC_WRITE_APPROVAL_ASKED = "plc_write_approval_asked", "Write to a PLC awaiting approval"
    DEVICE_WRITES_ENABLE = "device_writes_enable", "Writes to a device enabled"
    DEVICE_WRITES_DISABLE = "device_writes_disable", "Writes to a device disabled"
    DEVICE_OUT_OF_SERVICE = "device_out_of_service", "Device taken out of service"
    DEVICE_IN_SERVICE = "device_in_service", "Device put back in service"
    DEVICE_QUARANTINE = "device_quarantine", "Device quarantined"
    OPCUA_CLIENT_CERTIFICATE = "opcua_client_certificate", "OPC UA client certificate generated"
    OPCUA_SERVER_CERTIFICATE_PINNED = (
        "opcua_server_certificate_pinned",
        "OPC UA server certificate trusted on first use",
    )
    OPCUA_SERVER_CERTIFICATE_UNPINNED = (
        "opcua_server_certificate_unpinned",
        "OPC UA server certificate to be trusted anew",
    )
    DEVICE_RELEASE = "device_release", "Device released from quarantine"
    DOWNTIME_CLASSIFY = "downtime_classify", "Stop classified"
    DOWNTIME_COMMENT = "downtime_comment", "Stop commented"
    DOWNTIME_SPLIT = "downtime_split", "Stop split"
    INTERVALS_REBUILD = "intervals_rebuild", "State intervals rebuilt from history"
    ASSET_BASELINE_ACCEPT = "asset_baseline_accept", "Asset accepted into the communication baseline"
    RULE_SAVE = "rule_save", "Rule saved (a new version)"
    RULE_IMPORT = "rule_import", "Rules imported from a file"


class AuditEvent(models.Model):
    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    # The name is kept apart from the user: it still says who after the account is renamed or deleted (a deleted
    # user's events keep the name; the database allows only that one update, setting actor to NULL).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=50, db_index=True)
    target = models.CharField(max_length=300, blank=True, help_text="What the action was on, e.g. a tag path")
    details = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["actor_username", "timestamp"], name="audit_event_actor_time_idx")]

    def __str__(self) -> str:
        who = self.actor_username or "anonymous"
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target}".rstrip()
