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
    """A process alarm's definition with its tag's place in the plant; a security alarm's has no tag (every tag
    and place field empty) and is never in the evaluation's cache (detectors raise it: services/security.py)."""

    id: int
    name: str
    tag_id: int | None
    tag_path: str
    tag_name: str
    units: str
    machine_id: int | None
    machine_name: str
    line_id: int | None
    area_id: int | None
    priority: str
    message: str
    config: Config
    setpoint_tag_id: int | None
    suppress_tag_id: int | None
    suppress_when: str
    suppress_value: float | None
    category: str = "process"

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
    machine = tag.machine if tag is not None else None
    return Definition(
        id=d.pk,
        name=d.name,
        tag_id=tag.pk if tag is not None else None,
        tag_path=tag.path if tag is not None else "",
        tag_name=tag.name if tag is not None else "",
        units=tag.units if tag is not None else "",
        machine_id=machine.pk if machine is not None else None,
        machine_name=machine.name if machine is not None else "",
        line_id=machine.line_id if machine is not None else None,
        area_id=machine.line.area_id if machine is not None else None,
        category=d.category,
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
    # Tag-bound (process) definitions only: security alarms are raised by detectors, not by values.
    enabled = AlarmDefinition.objects.filter(enabled=True, tag__isnull=False)
    for d in enabled.select_related("tag__machine__line").order_by("pk"):
        assert d.tag_id is not None
        by_tag.setdefault(d.tag_id, []).append(definition_from_model(d))
    return {tag_id: tuple(ds) for tag_id, ds in by_tag.items()}


DEFINITIONS_TOKEN = VersionToken(VERSION_KEY)


def definitions_invalidate() -> None:
    """Definitions changed: every process reloads them on its next batch (never raises: Redis may be away)."""
    DEFINITIONS_TOKEN.bump()
