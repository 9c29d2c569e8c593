"""A version token for the acquisition configuration (devices, tags, scan classes) in the shared cache (Redis).

Pollers keep that configuration in memory (ingest.acquisition.poller) and re-read it when the token changes; a
change made in admin (ingest.signals) or by a tag CSV import (which writes in bulk, without signals) sets a new
token after its transaction commits.
"""

import uuid

from django.core.cache import cache

VERSION_KEY = "ingest:config:version"


def acquisition_config_invalidate() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def acquisition_config_version() -> str | None:
    """The current token (None: never set, or the cache is unreachable; the periodic checks still apply changes)."""
    try:
        return cache.get(VERSION_KEY)
    except Exception:  # Redis is away: acquisition goes on from what it read last
        return None
