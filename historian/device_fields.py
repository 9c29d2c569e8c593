"""Which fields of a device are its link status, written by acquisition rather than set by a person.

A plain module (no models imported) so that the settings can use it too (the audit trail does not track these).
"""

#: A device's link status: written after every poll or subscription event, never configuration. The admin shows
#: them read-only, the audit trail and the tag CSV leave them out, the poller's configuration digest ignores them,
#: the API's device status lists them. In the order they are shown.
STATUS_FIELDS: tuple[str, ...] = (
    "status",
    "last_error",
    "last_good_read_at",
    "consecutive_failures",
    "next_retry_at",
    "status_changed_at",
)
