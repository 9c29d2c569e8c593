"""What a process counts for the Prometheus endpoint, kept in Redis so that any web process can report every
process's figures (issue 16).

Why Redis and not prometheus_client's multiprocess mode: the counting processes (Celery acquisition workers, the
push runners, web processes) run on several hosts, and a multiprocess directory is per host; the web process that
answers a scrape would see only its own host's files. So a process adds to its counters and sets its gauges here,
in memory, and a daemon thread of its own (started on first use) writes them to Redis every FLUSH_SECONDS:
counters add into one hash (global totals that survive the process), gauges go under the process's name with the
time they were written, and the scrape sums the gauges of the processes that wrote recently. The hot path never
waits for Redis: `counter_add` is a dict update under a lock, and a Redis that is away only delays the thread.

Names and label values are the caller's; labels are few and bounded (an outcome, a rule name), never a tag id.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict

import redis

from common.redis import redis_client

logger = logging.getLogger(__name__)

COUNTERS_KEY = "metrics:counters"  # hash: "name|k=v,k=v" -> total
GAUGES_KEY = "metrics:gauges"  # hash: "name|k=v,...|process" -> {"value": v, "at": epoch seconds}
FLUSH_SECONDS = 5.0
#: A process's gauge older than this is not counted (the process died without taking it back).
GAUGE_FRESH_SECONDS = 4 * FLUSH_SECONDS

Labels = tuple[tuple[str, str], ...]

_lock = threading.Lock()
_counters: dict[tuple[str, Labels], float] = defaultdict(float)
_gauges: dict[tuple[str, Labels], float] = {}
_flusher: threading.Thread | None = None


def _process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def metrics_forget() -> None:
    """Drop what this process counted and has not written (a forked child starts from zero: Celery's prefork pool
    children would otherwise report their parent's figures again; tests start from zero too)."""
    with _lock:
        _counters.clear()
        _gauges.clear()


def _forget_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a lock held by another thread at the fork would never be released in the child
    metrics_forget()


os.register_at_fork(after_in_child=_forget_in_child)


def _labels(labels: dict[str, object]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _field(name: str, labels: Labels) -> str:
    return f"{name}|{','.join(f'{k}={v}' for k, v in labels)}"


def _parse(field: str) -> tuple[str, Labels]:
    name, _, rest = field.partition("|")
    pairs = [p.partition("=") for p in rest.split(",") if p]
    return name, tuple((k, v) for k, _, v in pairs)


def counter_add(name: str, amount: float = 1.0, **labels: object) -> None:
    """Add `amount` to counter `name` with `labels` (written to Redis within FLUSH_SECONDS; never waits)."""
    if amount == 0:
        return
    with _lock:
        _counters[(name, _labels(labels))] += amount
    _ensure_flusher()


def gauge_set(name: str, value: float, **labels: object) -> None:
    """This process's value of gauge `name` (the scrape sums every live process's)."""
    with _lock:
        _gauges[(name, _labels(labels))] = value
    _ensure_flusher()


def gauge_add(name: str, delta: float, **labels: object) -> None:
    """Move this process's value of gauge `name` by `delta` (sockets opened and closed)."""
    with _lock:
        key = (name, _labels(labels))
        _gauges[key] = _gauges.get(key, 0.0) + delta
    _ensure_flusher()


def rule_fired(*, rule: str, dry_run: bool) -> None:
    """The hook the rules engine calls on each firing (issue 14): millwright_rule_firings_total{rule, mode}."""
    counter_add("millwright_rule_firings_total", rule=rule, mode="dry_run" if dry_run else "live")


def metrics_flush() -> bool:
    """Write what this process counted since the last flush; False (kept for the next try) when Redis is away."""
    with _lock:
        counters = dict(_counters)
        _counters.clear()
        gauges = dict(_gauges)
    if not counters and not gauges:
        return True
    try:
        pipe = redis_client().pipeline(transaction=False)
        for (name, labels), amount in counters.items():
            pipe.hincrbyfloat(COUNTERS_KEY, _field(name, labels), amount)
        now, process = time.time(), _process()
        for (name, labels), value in gauges.items():
            pipe.hset(GAUGES_KEY, f"{_field(name, labels)}|{process}", json.dumps({"value": value, "at": now}))
        pipe.execute()
    except redis.RedisError as exc:
        with _lock:  # counted again at the next flush; nothing is lost while the process lives
            for key, amount in counters.items():
                _counters[key] += amount
        logger.debug("metrics not flushed: %s", exc)
        return False
    return True


def counters_read() -> dict[tuple[str, Labels], float]:
    """Every counter's total, across processes and hosts."""
    raw = redis_client().hgetall(COUNTERS_KEY)
    return {_parse(_text(k)): float(v) for k, v in raw.items()}


def gauges_read() -> dict[tuple[str, Labels], float]:
    """Every gauge summed over the processes that wrote it within GAUGE_FRESH_SECONDS; stale entries removed."""
    client = redis_client()
    raw = client.hgetall(GAUGES_KEY)
    now = time.time()
    totals: dict[tuple[str, Labels], float] = defaultdict(float)
    stale = []
    for key, data in raw.items():
        field = _text(key)
        entry = json.loads(data)
        if now - float(entry["at"]) > GAUGE_FRESH_SECONDS:
            stale.append(field)
            continue
        name_labels, _, _process = field.rpartition("|")
        totals[_parse(name_labels)] += float(entry["value"])
    if stale:
        client.hdel(GAUGES_KEY, *stale)
    return dict(totals)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ensure_flusher() -> None:
    global _flusher
    if _flusher is not None and _flusher.is_alive():
        return
    with _lock:
        if _flusher is not None and _flusher.is_alive():
            return
        _flusher = threading.Thread(target=_flush_forever, name="metrics-flush", daemon=True)
        _flusher.start()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            metrics_flush()
        except Exception:  # the thread must outlive anything odd; the figures wait for the next try
            logger.exception("metrics flush failed")


atexit.register(lambda: metrics_flush() if _counters or _gauges else None)
