"""Pushing stored values to the browsers watching a machine, over the Channels layer.

One message per machine per poll batch, never one per tag: a browser redraws once per batch and the channel
layer carries a handful of messages per second instead of hundreds.
"""

import os
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
from channels.layers import get_channel_layer

from common.loop_thread import LoopThread
from historian.sample_types import SampleBatch, SampleRow, TextSampleRow, datetime_to_us, is_text_row

LIVE_MESSAGE_TYPE = "samples.batch"


def machine_live_group(machine_id: int) -> str:
    return f"machine.{machine_id}"


def live_samples_message(machine_id: int, rows: SampleBatch | Sequence[SampleRow] | Sequence[TextSampleRow]) -> dict:
    """The channel-layer message; `samples` rows are [tag_id, epoch milliseconds, value, quality] (a value is a
    number, a text for string tags, or None)."""
    if not isinstance(rows, SampleBatch) and any(is_text_row(r) for r in rows):
        return {
            "type": LIVE_MESSAGE_TYPE,
            "machine": machine_id,
            "samples": [[r.tag_id, (datetime_to_us(r.time) + 500) // 1000, r.value, r.quality] for r in rows],
        }
    # cast: no row is a TextSampleRow (the check above), which the type checker cannot follow through any().
    batch = rows if isinstance(rows, SampleBatch) else SampleBatch.from_rows(cast(Sequence[SampleRow], rows))
    values = batch.value.tolist()
    if len(values) and np.isnan(batch.value).any():
        values = [None if v != v else v for v in values]
    millis = ((batch.time_us + 500) // 1000).tolist()
    return {
        "type": LIVE_MESSAGE_TYPE,
        "machine": machine_id,
        "samples": list(map(list, zip(batch.tag_id.tolist(), millis, values, batch.quality.tolist(), strict=True))),
    }


DEVICES_LIVE_GROUP = "devices"
DEVICE_STATUS_MESSAGE_TYPE = "device.status"


def device_status_message(device) -> dict:
    """A device's link status for the pages: connected, retries, last error, last good read (epoch ms)."""
    return {
        "type": DEVICE_STATUS_MESSAGE_TYPE,
        "device": {
            "id": device.pk,
            "name": device.name,
            "status": device.status,
            "retries": device.consecutive_failures,
            "last_error": device.last_error,
            "last_good_read": round(device.last_good_read_at.timestamp() * 1000) if device.last_good_read_at else None,
            "next_retry": round(device.next_retry_at.timestamp() * 1000) if device.next_retry_at else None,
        },
    }


def live_device_status_publish(*, device) -> None:
    """Tell every open page how the device's link is doing (one small message; ingest/pipeline/device_status.py
    calls it when the status changes and about every 5 s while a device stays connected, not on every poll)."""
    live_publish([(DEVICES_LIVE_GROUP, device_status_message(device))])


def live_samples_publish(
    *, rows_by_machine: Mapping[int, SampleBatch | Sequence[SampleRow] | Sequence[TextSampleRow]]
) -> int:
    """Send each machine's rows to its group; returns the number of messages sent."""
    messages = [
        (machine_live_group(machine_id), live_samples_message(machine_id, rows))
        for machine_id, rows in rows_by_machine.items()
        if len(rows)
    ]
    return len(messages) if live_publish(messages) else 0


async def _send_all(layer, messages: list[tuple[str, dict]]) -> None:
    for group, message in messages:
        await layer.group_send(group, message)


#: How long a publisher waits for the channel layer before it gives up on a push (the values are stored).
SEND_TIMEOUT_SECONDS = 5.0


class _Sender:
    """One event loop per process, in a thread of its own, for every send from synchronous code.

    async_to_sync in a thread without an event loop makes a new loop per call, and channels_redis keeps its
    Redis connections per loop: every push opened new connections (measured with py-spy in bench/acquisition.py:
    the larger part of a poll's push). Here the connections live as long as the process; the poller's threads
    all send through it. A forked child (Celery's pool) starts its own.
    """

    def __init__(self) -> None:
        self._loop_thread = LoopThread("live-sender")
        self._pid = os.getpid()

    def send(self, layer, messages: list[tuple[str, dict]]) -> None:
        if self._pid != os.getpid():  # a forked child: the parent's loop thread does not exist here
            self._loop_thread, self._pid = LoopThread("live-sender"), os.getpid()
        self._loop_thread.run(_send_all(layer, messages), timeout=SEND_TIMEOUT_SECONDS)


_sender = _Sender()


def live_publish(messages: list[tuple[str, dict]]) -> bool:
    """Send (group, message) pairs over the channel layer through the process's one publisher; False if there is
    no channel layer. Raises what the layer raises (callers that must never fail catch it)."""
    if not messages:
        return False
    layer = get_channel_layer()
    if layer is None:
        return False
    _sender.send(layer, messages)
    return True
