"""Read-only database work of a WebSocket consumer, off the one thread every `database_sync_to_async` call shares.

Channels' `database_sync_to_async` is thread-sensitive: every call of a web process runs in one thread, one after
the other. When hundreds of browsers open their sockets at once (a wall of screens after a restart), their
connect-time reads (session, permissions, alarm counts, known machines) queued there behind each other for tens of
seconds (bench/live.py: 200 overview pages waited 55 s). Meanwhile uvicorn reads nothing more from a socket whose
last message the application has not taken yet, so the browsers' keepalive pongs went unread and uvicorn closed
every such socket with 1011 ("keepalive ping timeout"). Reads that need no transaction of the caller run here in
the event loop's thread pool instead, several at once (each thread keeps its own database connection). Writes,
and anything that must see the caller's transaction, stay on `database_sync_to_async`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def database_read(fn: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """`fn` as a coroutine function run in the loop's thread pool (its database connections closed when too old,
    as `database_sync_to_async` does)."""
    return database_sync_to_async(fn, thread_sensitive=False)
