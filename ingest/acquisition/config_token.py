"""A version token for the acquisition configuration (devices, tags, scan classes) in the shared cache (Redis).

Pollers keep that configuration in memory (ingest.acquisition.poller) and re-read it when the token changes; a
change made in admin (ingest.signals) or by a tag CSV import (which writes in bulk, without signals) sets a new
token after its transaction commits. The token itself is common.version_token's, as the alarm definitions' is.
"""

from common.version_token import VersionToken

VERSION_KEY = "ingest:config:version"
CONFIG_TOKEN = VersionToken(VERSION_KEY)


def acquisition_config_invalidate() -> None:
    CONFIG_TOKEN.bump()


def acquisition_config_version() -> str | None:
    """The current token (None: never set, or the cache is unreachable; the periodic checks still apply changes)."""
    return CONFIG_TOKEN.read()
