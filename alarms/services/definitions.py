"""Alarm definitions as the evaluation needs them, kept in memory by each evaluation (DefinitionCache, owned by
the AlarmEvaluation hook of one writer of values: alarms.services.evaluation).

The hot path (every poll of every device) must not query definitions: they are loaded once per evaluation, all
of them, and reloaded only when their version token (common.version_token, in Redis) changes. Saving or deleting a
definition, a tag or the hierarchy above it sets a new token (signals.py), so every worker reloads on its next
batch. A lost token (cache cleared, Redis restarted) also means a reload: never a stale definition.

Evaluation does not depend on Redis (issue 11.6): while the token cannot be read, the definitions in memory are
used and re-read from the database every few seconds (FALLBACK_SECONDS), so a definition changed during the
outage applies within that; once Redis is back they are re-read once more.
"""

from dataclasses import dataclass

from alarms.models import AlarmDefinition
from alarms.state_machine import Config, Kind
from common.version_token import TokenCached, VersionToken

VERSION_KEY = "alarms:definitions:version"
#: How old the definitions in memory may get while Redis is away (a reload reads every enabled definition).
FALLBACK_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Definition:
    id: int
    name: str
    tag_id: int
    tag_path: str
    tag_name: str
    units: str
    machine_id: int
    machine_name: str
    line_id: int
    area_id: int
    priority: str
    message: str
    config: Config
    setpoint_tag_id: int | None
    suppress_tag_id: int | None
    suppress_when: str
    suppress_value: float | None

    def suppressed_by(self, value: float | None) -> bool | None:
        """Whether the design condition holds for the suppressing tag's `value` (None when unknown)."""
        if self.suppress_tag_id is None:
            return False
        if value is None or self.suppress_value is None:
            return None
        equal = round(value, 6) == round(self.suppress_value, 6)
        return equal if self.suppress_when == "eq" else not equal


def definition_from_model(d: AlarmDefinition) -> Definition:
    tag = d.tag
    return Definition(
        id=d.pk,
        name=d.name,
        tag_id=tag.pk,
        tag_path=tag.path,
        tag_name=tag.name,
        units=tag.units,
        machine_id=tag.machine_id,
        machine_name=tag.machine.name,
        line_id=tag.machine.line_id,
        area_id=tag.machine.line.area_id,
        priority=d.priority,
        message=d.message,
        config=Config(
            kind=Kind(d.kind),
            limit=d.limit,
            deadband=d.deadband,
            on_delay=d.on_delay_seconds,
            off_delay=d.off_delay_seconds,
            latching=d.latching,
        ),
        setpoint_tag_id=d.setpoint_tag_id,
        suppress_tag_id=d.suppress_tag_id,
        suppress_when=d.suppress_when,
        suppress_value=d.suppress_value,
    )


class DefinitionCache:
    """Enabled definitions by the tag they watch, for one evaluation (see the module docstring for when they
    reload)."""

    def __init__(self) -> None:
        self._cached = TokenCached(DEFINITIONS_TOKEN, _load, fallback_seconds=FALLBACK_SECONDS)

    def for_tags(self) -> dict[int, tuple[Definition, ...]]:
        """Enabled definitions by the tag they watch (one cache GET; a database query only after a change)."""
        return self._cached.get()


def _load() -> dict[int, tuple[Definition, ...]]:
    by_tag: dict[int, list[Definition]] = {}
    for d in AlarmDefinition.objects.filter(enabled=True).select_related("tag__machine__line").order_by("pk"):
        by_tag.setdefault(d.tag_id, []).append(definition_from_model(d))
    return {tag_id: tuple(ds) for tag_id, ds in by_tag.items()}


DEFINITIONS_TOKEN = VersionToken(VERSION_KEY)


def definitions_invalidate() -> None:
    """Definitions changed: every process reloads them on its next batch (never raises: Redis may be away)."""
    DEFINITIONS_TOKEN.bump()
