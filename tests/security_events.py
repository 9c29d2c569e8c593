"""Collecting the security events detectors report (inventory.security_events), as a receiver of the real signal."""

from collections.abc import Iterator
from contextlib import contextmanager

from inventory.security_events import SecurityEvent, SecurityEventKind, security_event


class Collected(list[SecurityEvent]):
    def of(self, kind: SecurityEventKind) -> list[SecurityEvent]:
        return [e for e in self if e.kind == kind]


@contextmanager
def security_events_collected() -> Iterator[Collected]:
    received = Collected()

    def receiver(sender: object, event: SecurityEvent, **kwargs: object) -> None:
        received.append(event)

    security_event.connect(receiver, weak=False)
    try:
        yield received
    finally:
        security_event.disconnect(receiver)
