"""The base of every WebSocket consumer: who may connect, and closing when the session ends.

A refused handshake reaches the browser as an HTTP 403 with no close code, so the page cannot tell "signed out"
from "network trouble" and retries forever. The consumer therefore accepts, then closes with 4401 (signed out or
session expired: the page goes to the login page) or 4403 (no permission: the page stops retrying).

An admitted socket writes every text frame through its outbox (common/fanout.py): the streams every page watches
reach it through the process's one fan-out (`fanout_deliver`), its own replies through `send`, one queue for both so
they keep their order, and a browser that falls too far behind is closed (1013) and reconnects.
"""

import asyncio
import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.services.sessions import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    session_seconds_left,
    session_sockets_group,
)
from common.fanout import CLOSE_TOO_SLOW, Outbox, fanout
from common.metrics import gauge_add

#: Admitted sockets of every web process (Prometheus gauge, common.metrics).
WEBSOCKET_CLIENTS = "millwright_websocket_clients"

#: Longest wait between two looks at the session's expiry (an extended session is seen within this long).
EXPIRY_CHECK_MAX_SECONDS = 300.0


def _admission_reads(
    user, permissions: tuple[str, ...], session_key: str | None
) -> tuple[set[str], frozenset[str], float | None]:
    """What admitting a socket reads, in one trip to Channels' one database thread (one connection health check,
    not one per read: at a connect burst every socket's reads queue in that thread, issue 17): the `permissions`
    held, every permission of the user (for `session_may`), and the seconds left of a stored session."""
    held = {p for p in permissions if user.has_perm(p)}
    if not held:
        return held, frozenset(), None
    left = session_seconds_left(session_key) if session_key else None
    return held, frozenset(user.get_all_permissions()), left


class SessionConsumer(AsyncWebsocketConsumer):
    """Subclasses call `session_admit(...)` first in `connect` and go on only with what it returns."""

    session_group: str | None = None
    session_permissions: frozenset[str] = frozenset()
    _counted = False  # in the WebSocket clients gauge
    _expiry_watch: asyncio.Task | None = None
    _outbox: Outbox | None = None
    _too_slow: asyncio.Task | None = None

    async def session_admit(self, *permissions: str) -> set[str] | None:
        """Accept a signed-in user holding at least one of `permissions` (and join the session's group); return
        the ones held. Otherwise accept, close with 4401 / 4403 and return None."""
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return None
        session = self.scope.get("session")
        session_key = session.session_key if session is not None else None
        held, self.session_permissions, left = await database_sync_to_async(_admission_reads)(
            user, permissions, session_key
        )
        if not held:
            await self.close(code=CLOSE_FORBIDDEN)
            return None
        self._outbox = Outbox(self._write_text)
        self._counted = True
        gauge_add(WEBSOCKET_CLIENTS, 1)
        if session_key:
            self.session_group = session_sockets_group(session_key)
            await self.channel_layer.group_add(self.session_group, self.channel_name)
            self._expiry_watch = asyncio.ensure_future(self._close_at_session_expiry(session_key, left))
        return held

    def session_may(self, permission: str) -> bool:
        """`user.has_perm(permission)` from the permissions read at admission: no trip to the database thread."""
        user = self.scope.get("user")
        return user is not None and user.is_active and (user.is_superuser or permission in self.session_permissions)

    async def _write_text(self, text: str) -> None:
        await self.base_send({"type": "websocket.send", "text": text})

    def fanout_deliver(self, frame: str) -> None:
        """A frame of a stream this socket joined (common.fanout); never waits."""
        if self._outbox is not None and not self._outbox.put(frame) and self._too_slow is None:
            self._too_slow = asyncio.ensure_future(self.close(code=CLOSE_TOO_SLOW))

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool | int = False
    ) -> None:
        """Text frames of an admitted socket queue behind what the fan-out has put before them."""
        if self._outbox is None or text_data is None or close:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        else:
            self.fanout_deliver(text_data)

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Closing stops streaming at once: frames still waiting are dropped."""
        if self._outbox is not None:
            self._outbox.stop()
        await super().close(code=code, reason=reason)

    async def disconnect(self, code: int) -> None:
        if self._outbox is not None:
            self._outbox.stop()
        if self._counted:
            self._counted = False
            gauge_add(WEBSOCKET_CLIENTS, -1)
        await fanout().leave(self)
        if self._expiry_watch is not None:
            self._expiry_watch.cancel()
        if self.session_group is not None:
            await self.channel_layer.group_discard(self.session_group, self.channel_name)

    async def _close_at_session_expiry(self, session_key: str, left: float | None) -> None:
        """Close with 4401 when the session expires while the socket is open (re-read before closing: a session
        extended meanwhile keeps its sockets). `left`: the seconds left read at admission, the first look."""
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                if left is None:
                    return
                if left <= 0:
                    await self.close(code=CLOSE_UNAUTHENTICATED)
                    return
                await asyncio.sleep(min(left + 0.05, EXPIRY_CHECK_MAX_SECONDS))
                left = await database_sync_to_async(session_seconds_left)(session_key)

    async def session_ended(self, event: dict) -> None:
        """The session signed out: stop streaming at once and send the page to the login page."""
        await self.close(code=CLOSE_UNAUTHENTICATED)
