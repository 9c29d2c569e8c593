"""Failover benchmark: the hole a worker killed with -9 leaves in the history, and whether it is marked.

    python -m devtools.embedded run --profile bench -- python -m bench.failover [--rounds 3] [--no-baseline]

Runs in a database of its own (`millwright_bench_failover`, dropped and re-created, migrated) like bench.acquisition:
a Modbus gateway in this process serves --devices unit ids whose values change every second (so every poll stores
every tag), and real `celery worker --acquisition` processes poll them on a --period-ms scan.

Each round: two workers run; the one holding the device(s) is killed with -9 (its main process and pool child);
the gap is, per device it held, the time from its last stored sample before the kill to the first one after (the
scan period is in it: a gap equal to the period is no hole). The survivor takes the devices over once the dead
worker's heartbeat lapses, and must store a "no data: acquisition down" sample per tag inside the gap. A fresh
worker is started for the next round, whose victim is then the survivor (it holds the devices).

Baseline, in the same run: the same rounds with the heartbeat as long as the lease (INGEST_POLLER_LEASE_SECONDS),
which is what the lease-expiry takeover alone gave (the 14-15 s hole of issue 11).

Target (issue 11.10): gap <= 5 s, always marked. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bench.acquisition import Gateway, plant_create
from bench.common import Layout, Worker, bench_database, database_arguments, django_setup

DEFAULT_DATABASE_NAME = "millwright_bench_failover"
TARGET_GAP_S = 5.0


def _wait(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
    return result


def _holders(device_ids: Sequence[int]) -> dict[int, str]:
    """Device id -> the worker name holding its lease (owners are "<worker name>:<pid>")."""
    from common.redis import redis_client
    from ingest.acquisition.leases import KEY_PREFIX

    values = redis_client().mget([f"{KEY_PREFIX}{d}" for d in device_ids])
    owners = {
        d: v.decode() if isinstance(v, bytes) else v for d, v in zip(device_ids, values, strict=True) if v is not None
    }
    return {d: owner.rsplit(":", 1)[0] for d, owner in owners.items()}


def _times(tag_ids: Sequence[int], *, quality: int) -> list[tuple[int, float]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tag_id, extract(epoch FROM time)::float8 FROM historian_sample "
            "WHERE tag_id = ANY(%s) AND quality = %s ORDER BY time",
            [list(tag_ids), quality],
        )
        return cursor.fetchall()


def _polled_since(tag_ids: Sequence[int], since: float, *, what: str) -> None:
    from historian.quality import Quality

    _wait(lambda: any(t > since for _, t in _times(tag_ids, quality=Quality.GOOD)), timeout=60, what=what)


def _device_tags() -> dict[int, list[int]]:
    from historian.models import Tag

    tags: dict[int, list[int]] = {}
    for device_id, tag_id in Tag.objects.values_list("device_id", "pk"):
        tags.setdefault(device_id, []).append(tag_id)
    return tags


def _rounds(args: argparse.Namespace, *, heartbeat_s: float, label: str, out: TextIO) -> list[dict[str, Any]]:
    from historian.quality import Quality

    env = {
        "INGEST_POLLER_LEASE_SECONDS": str(args.lease_seconds),
        "INGEST_POLLER_HEARTBEAT_SECONDS": str(heartbeat_s),
    }
    device_tags = _device_tags()
    device_ids = sorted(device_tags)
    results = []
    with tempfile.TemporaryDirectory() as state, contextlib.ExitStack() as logs:

        def start(i: int) -> Worker:
            log = logs.enter_context(open(Path(state) / f"worker-{i}.log", "w"))
            return Worker(concurrency=1, buffer_dir=Path(state) / f"w{i}", log=log, env=env)

        workers = [start(0), start(1)]
        try:
            for n in range(args.rounds):
                by_name = {w.name: w for w in workers}
                holders = _wait(
                    lambda: (h := _holders(device_ids)) and len(h) == len(device_ids) and h,
                    timeout=60,
                    what="every device to be leased",
                )
                victim = by_name[holders[device_ids[0]]]
                victims_devices = [d for d in device_ids if holders[d] == victim.name]
                all_tags = [t for d in victims_devices for t in device_tags[d]]
                _polled_since(all_tags, time.time(), what="the holder's polls")
                time.sleep(args.settle)
                victim.kill()
                killed_at = time.time()
                for device_id in victims_devices:
                    _polled_since(device_tags[device_id], killed_at, what="the survivor to poll the device")
                for device_id in victims_devices:
                    tags = device_tags[device_id]
                    good = sorted({t for _, t in _times(tags, quality=Quality.GOOD)})
                    before = max(t for t in good if t <= killed_at)
                    after = min(t for t in good if t > killed_at)
                    marked = {
                        tag for tag, t in _times(tags, quality=Quality.BAD_ACQUISITION_DOWN) if before < t < after
                    }
                    result = {
                        "round": n + 1,
                        "device": device_id,
                        "gap_s": round(after - before, 2),
                        "takeover_s": round(after - killed_at, 2),
                        "marked": marked == set(tags),
                    }
                    results.append(result)
                    print(
                        f"  {label:<9} round {n + 1}: device {device_id} gap {result['gap_s']:.2f} s "
                        f"(first poll {result['takeover_s']:.2f} s after the kill), "
                        f"{'marked' if result['marked'] else 'NOT marked'}",
                        file=out,
                    )
                workers = [w for w in workers if w is not victim] + [start(n + 2)]
        finally:
            for worker in workers:
                worker.stop()
    return results


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    gaps = [r["gap_s"] for r in results]
    return {
        "gap_median_s": round(statistics.median(gaps), 2) if gaps else None,
        "gap_max_s": max(gaps, default=None),
        "all_marked": all(r["marked"] for r in results),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="kills per configuration (%(default)s)")
    parser.add_argument("--devices", type=int, default=1, help="unit ids behind the gateway (%(default)s)")
    parser.add_argument("--tags", type=int, default=20, help="tags per device (%(default)s)")
    parser.add_argument("--period-ms", type=int, default=1000, help="scan period (%(default)s ms)")
    parser.add_argument("--heartbeat-seconds", type=float, default=3.0, help="heartbeat life (%(default)s s)")
    parser.add_argument("--lease-seconds", type=float, default=15.0, help="lease life (%(default)s s)")
    parser.add_argument("--settle", type=float, default=2.0, help="polls stored before a kill (%(default)s s)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the lease-expiry baseline rounds")
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if args.rounds < 1 or args.devices < 1 or args.tags < 1 or args.period_ms < 100:
        parser.error("--rounds, --devices and --tags must be at least 1, --period-ms at least 100")
    if not 0 < args.heartbeat_seconds <= args.lease_seconds:
        parser.error("--heartbeat-seconds must be positive and at most --lease-seconds")
    django_setup()
    started = time.perf_counter()
    layout = Layout(devices=args.devices, tags_per_device=args.tags)
    print(
        f"kill -9 of the worker polling {args.devices} device(s) of {args.tags} tags, {args.period_ms} ms scan, "
        f"leases {args.lease_seconds:g} s",
        file=out,
    )
    with bench_database(args.database_name, args.database_url, keep=args.keep_database), Gateway(layout) as gateway:
        plant_create(layout, gateway.port, args.period_ms)
        heartbeat = _summary(
            _rounds(args, heartbeat_s=args.heartbeat_seconds, label=f"hb {args.heartbeat_seconds:g} s", out=out)
        )
        baseline = (
            None
            if args.no_baseline
            else _summary(_rounds(args, heartbeat_s=args.lease_seconds, label="baseline", out=out))
        )
    result = {
        "kill9_gap_s": heartbeat["gap_median_s"],
        "kill9_gap_max_s": heartbeat["gap_max_s"],
        "kill9_all_marked": heartbeat["all_marked"],
        "baseline_kill9_gap_s": baseline and baseline["gap_median_s"],
        "baseline_kill9_gap_max_s": baseline and baseline["gap_max_s"],
        "ratio_gap_to_baseline": (round(heartbeat["gap_median_s"] / baseline["gap_median_s"], 2) if baseline else None),
        "heartbeat_s": args.heartbeat_seconds,
        "lease_s": args.lease_seconds,
        "period_ms": args.period_ms,
        "rounds": args.rounds,
        "target_gap_met": heartbeat["gap_max_s"] <= TARGET_GAP_S and heartbeat["all_marked"],
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    print(
        f"  heartbeat  gap median {result['kill9_gap_s']} s, max {result['kill9_gap_max_s']} s, "
        f"{'all marked' if result['kill9_all_marked'] else 'NOT all marked'}",
        file=out,
    )
    if baseline:
        print(
            f"  baseline   gap median {result['baseline_kill9_gap_s']} s, max {result['baseline_kill9_gap_max_s']} s "
            f"(heartbeat = lease): ratio {result['ratio_gap_to_baseline']}x",
            file=out,
        )
    met = "met" if result["target_gap_met"] else "NOT met"
    print(f"  target     gap <= {TARGET_GAP_S:g} s, marked: {met}", file=out)
    print(json.dumps(result), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
