"""Process-level fan-out: one channel-layer subscription per group and process, shared by every local socket.

Why: with one channel-layer member per socket, a value pushed to a group reached each socket through Channels'
own dispatch: per socket and message, a channel-layer receive (two tasks, the receive lock, a msgpack decode), a
thread hop to close old database connections (a quarter of the web process's CPU at 200 sockets, measured with
py-spy in bench/fanout.py) and a JSON encoding. And every socket's connect and disconnect ran its own group
commands, a burst of hundreds at once after a server restart.

Here a process joins each group once, under a channel of its own (`Fanout.join` on the first local socket that
needs it), receives each message once, encodes the browser's frame once per encoder, and hands the same text to
every local socket's `Outbox`. An outbox is the socket's one writer: frames go out in the order they were put,
without a slow browser holding up the others; one that falls `OUTBOX_LIMIT` frames behind is closed (1013), so
its page reconnects and fills the gap (static/js/lib/socket.js) instead of silently missing values.

Group membership in Redis expires (channels_redis' group_expiry) and is lost with a Redis restart: the process
joins its groups again every `REFRESH_SECONDS`, and after a failed receive.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)

#: Turns a channel-layer message into the text frame a browser receives (None: nothing to send).
Encoder = Callable[[dict[str, Any]], str | None]

REFRESH_SECONDS = 60.0
RETRY_SECONDS = 1.0
#: Frames a socket may have waiting before it counts as too slow and is closed (the channel layer's capacity).
OUTBOX_LIMIT = 1000
CLOSE_TOO_SLOW = 1013  # "try again later": the page reconnects and fills the gap


class Sink(Protocol):
    def fanout_deliver(self, frame: str) -> None: ...


@dataclass(eq=False)
class _Group:
    channel: str
    sinks: dict[Sink, Encoder] = field(default_factory=dict)
    task: asyncio.Task | None = None


class Fanout:
    """The fan-out of one event loop (a web process has one) over one channel layer."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.groups: dict[str, _Group] = {}
        self._lock = asyncio.Lock()
        self._refresher: asyncio.Task | None = None

    async def join(self, sink: Sink, encoders: Mapping[str, Encoder]) -> None:
        """Deliver to `sink` what is sent to each group, encoded by the group's encoder. `sink` is registered in
        the last step, with no suspension before the caller's next statement: a frame the caller puts in the
        sink's outbox right after (a "subscribed" reply) precedes every message of these groups."""
        async with self._lock:
            for name in encoders:
                if name not in self.groups:
                    # The default prefix, as the consumers' own channels: channels_redis receives every channel of a
                    # process with one blocking pop on one key, which only the same prefix shares.
                    group = _Group(channel=await self.layer.new_channel())
                    await self.layer.group_add(name, group.channel)
                    group.task = asyncio.ensure_future(self._receive(name, group))
                    self.groups[name] = group
            if self._refresher is None:
                self._refresher = asyncio.ensure_future(self._refresh())
        for name, encode in encoders.items():
            self.groups[name].sinks[sink] = encode

    async def leave(self, sink: Sink, names: list[str] | None = None) -> None:
        """Stop delivering to `sink` (from `names`, or from every group). A group no local socket needs any more is
        left, its receiving task awaited: nothing of it outlives the last socket (nor the event loop, in tests)."""
        emptied = []
        for name in list(self.groups) if names is None else names:
            group = self.groups.get(name)
            if group is not None and group.sinks.pop(sink, None) is not None and not group.sinks:
                emptied.append(name)
        if not emptied:
            return
        async with self._lock:
            for name in emptied:
                group = self.groups.get(name)
                if group is None or group.sinks:
                    continue  # joined again meanwhile
                del self.groups[name]
                await _cancelled(group.task)
                with contextlib.suppress(Exception):
                    await self.layer.group_discard(name, group.channel)
            if not self.groups:
                refresher, self._refresher = self._refresher, None
                await _cancelled(refresher)

    def sinks(self, name: str) -> int:
        group = self.groups.get(name)
        return len(group.sinks) if group is not None else 0

    async def _receive(self, name: str, group: _Group) -> None:
        failing = False
        while True:
            try:
                message = await self.layer.receive(group.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                if not failing:  # once per outage, not once a second
                    logger.warning("live fan-out: receiving %s failed; retrying", name, exc_info=True)
                failing = True
                await asyncio.sleep(RETRY_SECONDS)
                with contextlib.suppress(Exception):
                    await self.layer.group_add(name, group.channel)  # Redis may have restarted, empty
                continue
            if failing:
                logger.warning("live fan-out: receiving %s again", name)
                failing = False
            self._deliver(name, group, message)

    def _deliver(self, name: str, group: _Group, message: dict[str, Any]) -> None:
        frames: dict[Encoder, str | None] = {}
        for sink, encode in list(group.sinks.items()):
            if encode in frames:
                frame = frames[encode]
            else:
                try:
                    frame = frames[encode] = encode(message)
                except Exception:
                    logger.exception("live fan-out: cannot encode a %s message of %s", message.get("type"), name)
                    frame = frames[encode] = None
            if frame is not None:
                sink.fanout_deliver(frame)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            for name, group in list(self.groups.items()):
                try:
                    await self.layer.group_add(name, group.channel)
                except Exception:
                    logger.warning("live fan-out: cannot renew %s", name, exc_info=True)


async def _cancelled(task: asyncio.Task | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


_fanouts: dict[asyncio.AbstractEventLoop, Fanout] = {}


def fanout() -> Fanout:
    """The running loop's fan-out over the default channel layer (a new one when the layer was replaced)."""
    from channels.layers import get_channel_layer

    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    current = _fanouts.get(loop)
    if current is None or current.layer is not layer:
        for old in [old for old in _fanouts if old.is_closed()]:
            del _fanouts[old]
        current = _fanouts[loop] = Fanout(layer)
    return current


class Outbox:
    """A socket's frames in order, written by one task; `put` never waits (a slow browser holds up no one)."""

    def __init__(self, send: Callable[[str], Awaitable[None]], *, limit: int = OUTBOX_LIMIT) -> None:
        self._send = send
        self._limit = limit
        self._frames: collections.deque[str] = collections.deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = asyncio.ensure_future(self._write())

    def put(self, frame: str) -> bool:
        """Queue `frame`; False when the socket is closed or already `limit` frames behind (nothing queued)."""
        if self._task is None or len(self._frames) >= self._limit:
            return False
        self._frames.append(frame)
        self._ready.set()
        return True

    def stop(self) -> None:
        """Drop what is waiting and end the writer (a frame being written finishes)."""
        self._frames.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _write(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._frames:
                    await self._send(self._frames.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away under us: the consumer's disconnect follows
            logger.debug("live fan-out: a socket's writer ended", exc_info=True)
            self._task = None
