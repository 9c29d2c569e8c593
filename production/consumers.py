"""The downtime stream of the pages' one socket (/ws/page/, dashboards.consumers.PageConsumer): a line's stops,
live, and the operators' actions on them.

Client -> server:
  {"action": "downtime_subscribe", "line": 3, "hours": 24}    the line's stops of the last `hours` (1 to 168)
  {"action": "downtime_classify", "interval": 9, "reason": 4}  a reason of the site's tree; null: the automatic one
  {"action": "downtime_comment", "interval": 9, "comment": "..."}
  {"action": "downtime_split", "interval": 9, "at": 1767000000000}  epoch milliseconds
Server -> client:
  {"type": "downtime_snapshot", "line": 3, "stops": [...], "can_classify": bool}
  {"type": "downtime", "line": 3, "machine": 5, "since": ms, "stops": [...], "resync": bool} whenever a stop of
      the line changes (derived at ingest, classified, commented, split): that machine's stops ending at or after
      `since` or still open (the page replaces its rows of the machine from `since` on); with `resync` (a rebuild)
      no stops: the page subscribes again
  {"type": "downtime_done", "action": "...", "interval": 9}
  {"type": "error", "stream": "downtime", "message": "..."}
Subscribing needs historian.view_plant (the stream's permission); classifying, commenting and splitting need the
right in the stop's area (production.services.downtime.downtime_may_classify), checked on every action.

The OEE stream (the OEE view and the loss Pareto page; historian.view_plant, as the downtime stream):
  {"action": "oee_subscribe", "line": 3}                                  the line's current shift, per machine
  {"action": "pareto_subscribe", "line": 3, "range": "shift" | "24h" | "dates", "first": "2026-03-01",
   "last": "2026-03-02"}                                                  minutes lost by reason
Server -> client: {"type": "oee", ...production.queries.pages.line_oee} or {"type": "pareto", "line": 3,
  "start": ms, "end": ms, "rows": [...]} on subscribing, whenever a stop of the line changes (the downtime
  group's events) and every OEE_TICK_SECONDS (counters move without a stop changing).

The overview stream (the plant overview's cards; historian.view_plant):
  {"action": "overview_subscribe", "machines": [1, 2]}
Server -> client: {"type": "overview_production", "machines": {"1": {"oee", "state", "since"}, ...}}
  (production.queries.pages.overview_production: current-shift OEE, state, since when, epoch ms) on subscribing,
  whenever a stop of one of their lines changes and every OEE_TICK_SECONDS; computed and encoded once per web
  process for every socket showing the same machines (`_OverviewCards`, on common/fanout.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from channels.db import database_sync_to_async
from django.utils import timezone

from common.fanout import fanout
from common.replicas import replica_view
from historian.models import Line
from production.queries.intervals import line_stops
from production.queries.pages import (
    ParetoRange,
    line_oee,
    line_pareto,
    overview_lines,
    overview_production,
    pareto_window,
)
from production.services.downtime import (
    DowntimeError,
    downtime_may_classify,
    stop_classify,
    stop_comment,
    stop_split,
)
from production.services.live import DOWNTIME_MESSAGE_TYPE, downtime_line_group

DOWNTIME_ACTIONS = frozenset({"downtime_subscribe", "downtime_classify", "downtime_comment", "downtime_split"})
DEFAULT_HOURS = 24
MAX_HOURS = 168


def _is_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _snapshot(user: Any, line_id: int, hours: int) -> dict | None:
    line = Line.objects.filter(pk=line_id).values_list("area_id", flat=True).first()
    if line is None:
        return None
    now = timezone.now()
    return {
        "type": "downtime_snapshot",
        "line": line_id,
        "stops": line_stops(line_id=line_id, start=now - timedelta(hours=hours), now=now),
        "can_classify": downtime_may_classify(user=user, area_id=line),
    }


def _act(user: Any, message: dict, remote_addr: str | None) -> dict:
    action, interval_id = message["action"], message.get("interval")
    if not _is_id(interval_id):  # narrows interval_id to int below
        raise DowntimeError("'interval' must be a stop's id.")
    if action == "downtime_classify":
        reason = message.get("reason")
        if reason is not None and not _is_id(reason):
            raise DowntimeError("'reason' must be a reason's id, or null for the automatic reason.")
        stop_classify(interval_id=interval_id, reason_id=reason, user=user, remote_addr=remote_addr)
    elif action == "downtime_comment":
        comment = message.get("comment")
        if not isinstance(comment, str):
            raise DowntimeError("'comment' must be text.")
        stop_comment(interval_id=interval_id, comment=comment, user=user, remote_addr=remote_addr)
    else:
        at = message.get("at")
        if not isinstance(at, int | float) or isinstance(at, bool) or not 0 < at < 1e14:
            raise DowntimeError("'at' must be an instant in epoch milliseconds.")
        stop_split(
            interval_id=interval_id,
            at=datetime.fromtimestamp(at / 1000, tz=UTC),
            user=user,
            remote_addr=remote_addr,
        )
    return {"type": "downtime_done", "action": action, "interval": interval_id}


class DowntimeStream:
    """The downtime half of a consumer; mixed into the pages' socket."""

    channel_layer: Any
    channel_name: str
    scope: dict
    send: Any

    downtime_line: int | None = None

    oee_line: int | None = None  # OeeStream's line: it listens to the same group

    async def downtime_leave(self) -> None:
        if self.downtime_line is not None:
            if self.downtime_line != self.oee_line:
                await self.channel_layer.group_discard(downtime_line_group(self.downtime_line), self.channel_name)
            self.downtime_line = None

    async def downtime_receive(self, message: dict) -> None:
        """Act on a parsed message whose action is in DOWNTIME_ACTIONS (the user may view the plant)."""
        user = self.scope["user"]
        if message["action"] == "downtime_subscribe":
            line_id, hours = message.get("line"), message.get("hours", DEFAULT_HOURS)
            if not _is_id(line_id) or not _is_id(hours) or hours > MAX_HOURS:
                await self.downtime_error(f"Subscribe with a line's id and 1 to {MAX_HOURS} hours.")
                return
            snapshot = await database_sync_to_async(_snapshot)(user, line_id, hours)
            if snapshot is None:
                await self.downtime_error(f"Unknown line: {line_id}")
                return
            if self.downtime_line != line_id:
                await self.downtime_leave()
                if self.oee_line != line_id:
                    await self.channel_layer.group_add(downtime_line_group(line_id), self.channel_name)
                self.downtime_line = line_id
            await self.send(text_data=json.dumps(snapshot))
            return
        client = self.scope.get("client")
        remote_addr = client[0] if client else None
        try:
            reply = await database_sync_to_async(_act)(user, message, remote_addr)
        except (DowntimeError, PermissionError) as exc:
            await self.downtime_error(str(exc))
            return
        await self.send(text_data=json.dumps(reply))

    async def downtime_changed(self, event: dict) -> None:
        if self.oee_line == event["line"]:
            await self.oee_changed()  # type: ignore[attr-defined]  # OeeStream, in the consumer it is mixed into
        if self.downtime_line != event["line"]:
            return
        await self.send(
            text_data=json.dumps(
                {
                    "type": "downtime",
                    "line": event["line"],
                    "machine": event["machine"],
                    "since": event["since"],
                    "stops": event["stops"],
                    "resync": event.get("resync", False),
                }
            )
        )

    async def downtime_error(self, text: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "stream": "downtime", "message": text}))


OEE_ACTIONS = frozenset({"oee_subscribe", "pareto_subscribe"})
OEE_TICK_SECONDS = 15.0


@replica_view
def _oee_frame(line_id: int, view: dict) -> dict | None:
    """The frame of a subscription (view: {"view": "oee"} or {"view": "pareto", "range", "first", "last"}). Read
    from a replica where there is one (common.replicas): a KPI page's figures are the read-heavy part of production,
    and a classification the replica has yet to replay shows at the next tick (OEE_TICK_SECONDS) at the latest."""
    if not Line.objects.filter(pk=line_id).exists():
        return None
    now = timezone.now()
    if view["view"] == "oee":
        return {"type": "oee", **line_oee(line_id=line_id, now=now)}
    window = pareto_window(
        line_id=line_id, kind=ParetoRange(view["range"]), first=view.get("first"), last=view.get("last"), now=now
    )
    start, end = window if window is not None else (None, None)
    return {
        "type": "pareto",
        "line": line_id,
        "range": view["range"],
        "start": round(start.timestamp() * 1000) if start else None,
        "end": round(end.timestamp() * 1000) if end else None,
        "rows": line_pareto(line_id=line_id, start=start, end=end, now=now) if start and end and end > start else [],
    }


class OeeStream:
    """The OEE view's and the Pareto page's half of a consumer: figures recomputed on the server when the line's
    stops change and on a periodic tick, pushed whole. Mixed into the pages' socket with DowntimeStream, whose
    line group it shares (downtime_changed calls oee_changed)."""

    channel_layer: Any
    channel_name: str
    send: Any
    downtime_line: int | None = None

    oee_line: int | None = None
    oee_view: dict | None = None
    oee_task: asyncio.Task | None = None
    oee_busy: bool = False
    oee_dirty: bool = False

    async def oee_leave(self) -> None:
        if self.oee_task is not None:
            self.oee_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.oee_task
            self.oee_task = None
        if self.oee_line is not None:
            if self.oee_line != self.downtime_line:
                await self.channel_layer.group_discard(downtime_line_group(self.oee_line), self.channel_name)
            self.oee_line = None

    async def oee_receive(self, message: dict) -> None:
        """Act on a parsed message whose action is in OEE_ACTIONS (the user may view the plant)."""
        line_id = message.get("line")
        if not _is_id(line_id):
            await self.oee_error("Subscribe with a line's id.")
            return
        view: dict = {"view": "oee"}
        if message["action"] == "pareto_subscribe":
            kind = message.get("range", ParetoRange.SHIFT.value)
            if kind not in {r.value for r in ParetoRange}:
                await self.oee_error("'range' must be shift, 24h or dates.")
                return
            first, last = message.get("first"), message.get("last")
            if kind == ParetoRange.DATES and not (isinstance(first, str) and isinstance(last, str)):
                await self.oee_error("A date range needs 'first' and 'last' dates.")
                return
            view = {"view": "pareto", "range": kind, "first": first, "last": last}
        try:
            frame = await database_sync_to_async(_oee_frame)(line_id, view)
        except ValueError as exc:
            await self.oee_error(str(exc))
            return
        if frame is None:
            await self.oee_error(f"Unknown line: {line_id}")
            return
        if self.oee_line != line_id:
            await self.oee_leave()
            if self.downtime_line != line_id:
                await self.channel_layer.group_add(downtime_line_group(line_id), self.channel_name)
            self.oee_line = line_id
        self.oee_view = view
        if self.oee_task is None:
            self.oee_task = asyncio.get_running_loop().create_task(self._oee_tick())
        await self.send(text_data=json.dumps(frame))

    async def _oee_tick(self) -> None:
        while True:
            await asyncio.sleep(OEE_TICK_SECONDS)
            await self.oee_changed()

    async def oee_changed(self) -> None:
        """Recompute and push; changes arriving while a recompute runs fold into one more."""
        if self.oee_busy:
            self.oee_dirty = True
            return
        self.oee_busy = True
        try:
            while True:
                self.oee_dirty = False
                line_id, view = self.oee_line, self.oee_view
                if line_id is None or view is None:
                    return
                try:
                    frame = await database_sync_to_async(_oee_frame)(line_id, view)
                except ValueError:
                    return
                if frame is not None and line_id == self.oee_line:
                    await self.send(text_data=json.dumps(frame))
                if not self.oee_dirty:
                    return
        finally:
            self.oee_busy = False

    async def oee_error(self, text: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "stream": "oee", "message": text}))


OVERVIEW_ACTIONS = frozenset({"overview_subscribe"})
MAX_OVERVIEW_MACHINES = 500


def _overview_frame(machine_ids: list[int]) -> tuple[frozenset[int], dict]:
    figures = overview_production(machine_ids=machine_ids)
    frame = {"type": "overview_production", "machines": {str(m): v for m, v in sorted(figures.items())}}
    return frozenset(overview_lines(machine_ids=machine_ids)), frame


def _downtime_changed_marker(message: dict) -> str | None:
    """The fan-out's encoder for the overview: a stop of the line changed (the frame's text does not matter)."""
    return "changed" if message.get("type") == DOWNTIME_MESSAGE_TYPE else None


class _OverviewCards:
    """The overview cards of one set of machines in one web process, shared by every socket showing them.

    Why (issue 17, bench/live.py): each overview page recomputed its cards on its own tick and on each stop change,
    through its own membership of the lines' downtime groups; at hundreds of pages on one process that was
    hundreds of identical computations every OEE_TICK_SECONDS and a channel-layer message per page per stop
    change. Here the process joins the lines' groups once (common/fanout.py, as the live values), computes the
    frame once per change or tick, encodes it once and puts the same text in each socket's outbox."""

    def __init__(self, machines: tuple[int, ...]) -> None:
        self.machines = machines
        self.sockets: set[Any] = set()
        self.lines: frozenset[int] = frozenset()
        self.frame: str | None = None
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task | None = None
        self.busy = False
        self.dirty = False
        self._changes: set[asyncio.Task] = set()

    async def start(self) -> None:
        try:
            lines, frame = await database_sync_to_async(_overview_frame)(list(self.machines))
            self.lines, self.frame = lines, json.dumps(frame)
            await fanout().join(self, {downtime_line_group(line): _downtime_changed_marker for line in lines})
            self.task = asyncio.get_running_loop().create_task(self._tick())
        except BaseException as exc:
            self.started.set_exception(exc)
            raise
        self.started.set_result(None)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        for change in list(self._changes):
            change.cancel()
        await fanout().leave(self)

    def fanout_deliver(self, frame: str) -> None:
        """A stop of one of the lines changed."""
        change = asyncio.ensure_future(self.changed())
        self._changes.add(change)
        change.add_done_callback(self._changes.discard)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(OEE_TICK_SECONDS)
            await self.changed()

    async def changed(self) -> None:
        """Recompute and push to every socket; changes arriving while a recompute runs fold into one more."""
        if self.busy:
            self.dirty = True
            return
        self.busy = True
        try:
            while True:
                self.dirty = False
                _, frame = await database_sync_to_async(_overview_frame)(list(self.machines))
                self.frame = json.dumps(frame)
                for socket in list(self.sockets):
                    await socket.send(text_data=self.frame)
                if not self.dirty:
                    return
        finally:
            self.busy = False


_overview_cards: dict[asyncio.AbstractEventLoop, dict[tuple[int, ...], _OverviewCards]] = {}


def _cards_of_loop() -> dict[tuple[int, ...], _OverviewCards]:
    loop = asyncio.get_running_loop()
    for old in [old for old in _overview_cards if old.is_closed()]:
        del _overview_cards[old]
    return _overview_cards.setdefault(loop, {})


class OverviewStream:
    """The plant overview cards' half of a consumer: each card's current-shift OEE and state since, recomputed when
    a stop of its line changes and on the OEE tick, once per process for every socket showing the same machines
    (`_OverviewCards`)."""

    send: Any

    overview_cards: _OverviewCards | None = None

    async def overview_leave(self) -> None:
        cards, self.overview_cards = self.overview_cards, None
        if cards is None:
            return
        cards.sockets.discard(self)
        if not cards.sockets and _cards_of_loop().get(cards.machines) is cards:
            del _cards_of_loop()[cards.machines]
            await cards.stop()

    async def overview_receive(self, message: dict) -> None:
        """Act on a parsed message whose action is in OVERVIEW_ACTIONS (the user may view the plant)."""
        machines = message.get("machines")
        if (
            not isinstance(machines, list)
            or not machines
            or len(machines) > MAX_OVERVIEW_MACHINES
            or not all(_is_id(m) for m in machines)
        ):
            await self.overview_error(f"Subscribe with a list of 1 to {MAX_OVERVIEW_MACHINES} machine ids.")
            return
        key = tuple(sorted(set(machines)))
        if self.overview_cards is not None and self.overview_cards.machines == key:
            cards = self.overview_cards
        else:
            await self.overview_leave()
            registry = _cards_of_loop()
            shared = registry.get(key)
            if shared is None:
                cards = registry[key] = _OverviewCards(key)
                cards.sockets.add(self)
                self.overview_cards = cards
                try:
                    await cards.start()
                except BaseException:
                    await self.overview_leave()
                    raise
            else:
                cards = shared
                cards.sockets.add(self)
                self.overview_cards = cards
                await asyncio.shield(cards.started)
        if cards.frame is not None:
            await self.send(text_data=cards.frame)

    async def overview_error(self, text: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "stream": "overview", "message": text}))
