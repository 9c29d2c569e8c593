"""Reads of how acquisition is doing: device links and the store-and-forward buffers of the worker hosts."""

import json
import time
from datetime import datetime

import redis

from common.redis import redis_client
from historian.device_fields import STATUS_FIELDS
from historian.models import Device
from historian.services.live import device_status_message

#: Redis hash: worker host -> its buffer status as JSON (written by ingest.pipeline.buffer).
BUFFER_STATUS_KEY = "ingest:buffers"


def device_status_messages() -> list[dict]:
    """Every device's link status, each in the shape of the live `device` message (the page's first state)."""
    devices = Device.objects.only("pk", "name", *STATUS_FIELDS).order_by("name")
    return [device_status_message(device)["device"] for device in devices]


def ingest_buffer_statuses() -> list[dict]:
    """Each worker host's last published buffer status: depth, oldest value and its age now, rows dropped."""
    try:
        raw = redis_client().hgetall(BUFFER_STATUS_KEY)
    except redis.exceptions.RedisError:
        return []
    statuses = []
    for host, data in sorted(raw.items()):
        status = json.loads(data)
        status["host"] = host.decode() if isinstance(host, bytes) else host
        oldest = status.get("oldest")
        status["oldest_age_seconds"] = (
            max(0.0, time.time() - datetime.fromisoformat(oldest).timestamp()) if oldest else None
        )
        statuses.append(status)
    return statuses
