"""Version tokens: how a process knows that something it keeps in memory changed in the database.

A writer bumps the token (a random string in the shared cache, Redis) after its change commits; each process
compares the token with the one it loaded with, and reloads when it moved. One GET per look, a query only after a
change. The acquisition configuration (ingest.acquisition.config_token) and the alarm definitions
(alarms.services.definitions) both keep theirs here.

Redis may be away. The token is a shortcut, never a dependency:
- a read that fails answers None, and the failure is remembered for RETRY_SECONDS, so an outage costs one
  connection attempt every few seconds, not one per poll;
- a bump that fails is logged, not raised (the change itself is committed);
- TokenCached, while it cannot read the token, reloads from the database at most every `fallback_seconds`, and
  once more when the token is back (a bump lost during the outage is then caught up); whatever happens to Redis, a
  value is never older than `max_age_seconds`.

A hot path (an after-store hook, once per stored batch) may give TokenCached `check_seconds`: the token is then
read at most that often, and a change made by another process is seen up to that much later (a change made by
this process is seen at once: its bump counts locally).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.cache import cache

from common.replicas import primary_reads

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: After a failed read, the token is not asked for again for this long (the callers fall back meanwhile).
RETRY_SECONDS = 2.0


#: Every token of this process (module-level constants, so never collected).
_TOKENS: list[VersionToken] = []


def version_tokens_bump_all() -> None:
    """Everything kept in memory under a token is loaded again: for a process that points its connection at another
    database for a while (bench/common.py's bench_database, run inside the test suite)."""
    for token in _TOKENS:
        token.bump()


class VersionToken:
    """One token in the shared cache under `key`."""

    def __init__(self, key: str, *, retry_seconds: float = RETRY_SECONDS) -> None:
        _TOKENS.append(self)
        self.key = key
        self.retry_seconds = retry_seconds
        self._retry_at = 0.0
        self.local_bumps = 0  # bumps made by this process: its own changes reload here even when Redis is away

    def read(self, *, create: bool = False) -> str | None:
        """The token; None when Redis is unreachable, or when it was never set (unless `create`: then a new one,
        the same for every process that asks at once)."""
        if time.monotonic() < self._retry_at:
            return None
        try:
            token = cache.get(self.key)
            if token is None and create:
                cache.add(self.key, uuid.uuid4().hex, timeout=None)
                token = cache.get(self.key)
        except Exception as exc:  # Redis away: the callers go on from what they have, or the database
            self._retry_at = time.monotonic() + self.retry_seconds
            logger.warning("version token %s unreadable (%s): falling back for %g s", self.key, exc, self.retry_seconds)
            return None
        return token

    def bump(self) -> None:
        """The thing it versions changed (call after the change commits); never raises."""
        self.local_bumps += 1
        try:
            cache.set(self.key, uuid.uuid4().hex, timeout=None)
        except Exception as exc:  # the change is committed; the others catch up by TokenCached's fallback
            logger.warning("version token %s not bumped (%s)", self.key, exc)


class TokenCached(Generic[T]):
    """A value loaded from the database by `load`, kept while `token` stays; thread-safe, one load at a time."""

    def __init__(
        self,
        token: VersionToken,
        load: Callable[[], T],
        *,
        fallback_seconds: float = 5.0,
        max_age_seconds: float = 300.0,
        check_seconds: float = 0.0,
    ) -> None:
        self.token = token
        self._load = load
        self.fallback_seconds = fallback_seconds
        self.max_age_seconds = max_age_seconds
        self.check_seconds = check_seconds
        self._value: T | None = None
        self._seen: str | None = None  # the token the value was loaded under (None: loaded without one)
        self._bumps = -1
        self._loaded_at = -float("inf")
        self._checked_at = -float("inf")  # when the token was last read (check_seconds)
        self._lock = threading.Lock()

    def get(self) -> T:
        """The value: from memory (one cache GET), or loaded again when the token moved, this process changed it,
        it is older than max_age_seconds, or the token is unreadable and fallback_seconds passed. Within
        check_seconds of the last look, from memory without a GET (unless this process changed it)."""
        now = time.monotonic()
        if (
            self._value is not None
            and now - self._checked_at < self.check_seconds
            and self._bumps == self.token.local_bumps
        ):
            return self._value
        token = self.token.read(create=True)
        self._checked_at = now
        age = now - self._loaded_at
        stale = (
            self._value is None
            or self._bumps != self.token.local_bumps
            or age >= self.max_age_seconds
            or (token is None and age >= self.fallback_seconds)
            or (token is not None and token != self._seen)
        )
        if stale:
            with self._lock:
                bumps = self.token.local_bumps
                with primary_reads():  # the change the token announces may not be on a read replica yet
                    value = self._load()
                self._value, self._seen, self._bumps = value, token, bumps
                self._loaded_at = time.monotonic()
        return self._value  # type: ignore[return-value]  # not None: `stale` holds while it is, and loads it
