"""Reporting security events from acquisition: a receiver that fails (the database away, a bug in the alarms)
never stops acquiring values."""

import logging

from ingest.pipeline.store import DATABASE_DOWN_ERRORS, database_connection_reset
from inventory.security_events import SecurityEvent, report_security_event

logger = logging.getLogger(__name__)


def security_report(event: SecurityEvent) -> None:
    """Hand `event` to the receivers (alarms), from a thread (never from inside an event loop)."""
    logger.warning("security: %s", event.message)
    try:
        report_security_event(event)
    except DATABASE_DOWN_ERRORS:
        database_connection_reset()
        logger.warning("database unavailable: security event not recorded: %s", event.message)
    except Exception:
        logger.exception("security event not handled: %s", event.message)
