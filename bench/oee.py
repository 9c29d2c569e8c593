"""OEE benchmark: the plant's KPIs with the loss breakdown over a shift, a day, 30 and 90 days, next to a naive
computation over the raw samples, and what deriving state intervals costs the ingest path.

    python -m bench.oee [--machines 100] [--days 90] [--repeats 20] [--ingest-minutes 5]
    make bench OEE_BENCH_ARGS="--machines 10 --days 7"     # a quick run

Runs in a database of its own (`millwright_bench_oee`, fresh and migrated like bench.ingest, dropped at the end
unless --keep-database). The plant: one site (Europe/Berlin, three 8-hour shifts every day, a 30-minute planned
break in each), --machines machines on lines of ten, each with a state tag, total and good part counters (rolling
over at 1,000,000) and a product tag, three products with ideal cycle times of 20, 30 and 45 s. History as the demo's
machines make it, stored on change: a cycle every 20-60 s while running (the total counter, and the good counter
unless the part is a reject), a state change every few minutes (micro-stops, starving and blocking, breakdowns with a
fault code, short stops, changeovers to another product). Loaded through the historian's bulk writer
(`samples_write_batch`), then each machine's intervals derived from that history by the project's own derivation
(`machine_intervals_rebuild`). Progress goes to stderr.

Timed, after one warm-up call each (the warm-up materialises the closed segments' summaries; its time is printed):
  oee_{shift,day,30d,90d}   production.queries.kpis.scope_kpis of the site (every machine, the six big losses)
                            over the last closed shift, the last local day, the last 30 and 90 days; --repeats times.
  naive_{...}               the same figures from raw samples: each machine's state and counter samples read over
                            the range, intervals and counts built in Python, production.kpis per machine, summed
                            (once per range: it reads every sample). Checked: the same OEE as the query, to AGREE.
  derive_cpu_share          --ingest-minutes of 1 s polls of every machine through the real store path
                            (ingest.pipeline.store.readings_store, the after-store hooks included) after the history,
                            the first second's polls untimed (the process's first look at each machine): the CPU of
                            the interval derivation hook's thread while in it, plus that of the downtime publisher's
                            thread (the messages the derivation announces) / the process CPU of the whole path.

The last line printed is one JSON object with every figure; `oee_p95_ms` (range -> ms), `naive_ratio` (range ->
naive time / the query's p50) and `derive_cpu_share`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TextIO

import numpy as np

from bench.common import bench_database, database_arguments, django_setup, percentile, server_info

DEFAULT_DATABASE_NAME = "millwright_bench_oee"
GOOD = 0xC0
ROLLOVER = 1_000_000.0
TZ = "Europe/Berlin"
CYCLE_TIMES = {"1": 20.0, "2": 30.0, "3": 45.0}
# State codes (the demo's mapping): running, idle/starved, blocked, setup, planned stop, unplanned down, off.
RUN, IDLE, BLOCKED, SETUP, PLANNED, DOWN, OFF = 1, 2, 3, 4, 5, 6, 7
RANGES = ("shift", "day", "30d", "90d")
#: The naive computation gives a counter's rise to the product of the interval it ends in; the query shares a rise
#: that spans a product change out in proportion to time (and counts a stop cut by the range by its whole length):
#: their OEE may differ by this much.
AGREE = 0.005


def _progress(text: str) -> None:
    print(f"[bench.oee {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- the plant ------------------------------------------------------------------------------------------------------


def _plant(machines: int) -> list[dict[str, int]]:
    """Site, lines, machines, tags and production configuration; per machine its ids."""
    from datetime import time as clock

    from historian.models import Area, DataType, Device, Line, Machine, ScanClass, Site, Tag
    from production.models import (
        BigLoss,
        Break,
        DowntimeCategory,
        DowntimeReason,
        FaultCode,
        MachineProduction,
        Product,
        ProductCycleTime,
        ShiftCalendar,
        ShiftPattern,
        StateMapping,
    )

    site = Site.objects.create(name="Bench works", timezone=TZ)
    area = Area.objects.create(site=site, name="Assembly")
    calendar = ShiftCalendar.objects.create(name="Three shifts", site=site)
    for name, start in (("Early", clock(6)), ("Late", clock(14)), ("Night", clock(22))):
        pattern = ShiftPattern.objects.create(
            calendar=calendar, name=name, start_time=start, duration_minutes=480, weekdays=list(range(7))
        )
        Break.objects.create(shift=pattern, name="Break", start_offset_minutes=240, duration_minutes=30)
    products = {code: Product.objects.create(site=site, code=code, name=f"Product {code}") for code in CYCLE_TIMES}
    category = DowntimeCategory.objects.create(site=site, name="Mechanical")
    jam = DowntimeReason.objects.create(category=category, name="Jam", loss=BigLoss.BREAKDOWN)
    scan = ScanClass.objects.create(name="1 s", period_ms=1000)
    out: list[dict[str, int]] = []
    lines: list[Line] = []
    for i in range(machines):
        if i % 10 == 0:
            lines.append(Line.objects.create(area=area, name=f"Line {i // 10 + 1}"))
        line = lines[-1]
        machine = Machine.objects.create(line=line, name=f"M{i + 1:03d}")
        device = Device.objects.create(name=f"PLC {i + 1}", host="127.0.0.1")

        def tag(name: str, data_type: str, rollover: float | None = None, *, machine=machine, device=device) -> Tag:
            return Tag.objects.create(
                path=f"Bench/{machine.name}.{name}",
                name=name,
                machine=machine,
                device=device,
                scan_class=scan,
                address=f"HR{len(out) % 1000 * 10}",
                data_type=data_type,
                counter_rollover=rollover,
            )

        state, total, good = tag("state", DataType.INT16), tag("total", DataType.UINT32, ROLLOVER), None
        good = tag("good", DataType.UINT32, ROLLOVER)
        product, fault = tag("product", DataType.INT16), tag("fault", DataType.INT16)
        config = MachineProduction.objects.create(
            machine=machine, state_tag=state, total_tag=total, good_tag=good, product_tag=product
        )
        StateMapping.objects.bulk_create(
            StateMapping(machine_production=config, value=v, state=s)
            for v, s in (
                (RUN, "running"),
                (IDLE, "idle"),
                (BLOCKED, "blocked"),
                (SETUP, "setup"),
                (PLANNED, "planned_stop"),
                (DOWN, "unplanned_down"),
                (OFF, "off"),
            )
        )
        ProductCycleTime.objects.bulk_create(
            ProductCycleTime(machine_production=config, product=products[c], ideal_cycle_seconds=s)
            for c, s in CYCLE_TIMES.items()
        )
        FaultCode.objects.create(tag=fault, value=17, reason=jam)
        out.append(
            {
                "machine": machine.pk,
                "device": device.pk,
                "state": state.pk,
                "total": total.pk,
                "good": good.pk,
                "product": product.pk,
                "fault": fault.pk,
            }
        )
    return out


# -- history as the demo's machines make it ---------------------------------------------------------------------------


class _Sim:
    """One machine: its state, product and counters over time, stored on change."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.product = 1 + seed % 3
        self.total = float(self.rng.integers(0, int(ROLLOVER)))
        self.good = float(self.rng.integers(0, int(ROLLOVER)))

    def events(self, start: float, end: float) -> list[tuple[float, int, int, int]]:
        """(time s, state, product, fault) at each change from `start` to `end`."""
        rng, t = self.rng, start
        out = []
        while t < end:
            out.append((t, RUN, self.product, 0))
            t += max(30.0, rng.exponential(240.0))
            kind = rng.random()
            if kind < 0.5:
                state, length, fault = IDLE, rng.uniform(20, 100), 0  # a micro-stop
            elif kind < 0.65:
                state, length, fault = (IDLE if rng.random() < 0.5 else BLOCKED), rng.uniform(120, 480), 0
            elif kind < 0.75:
                state, length, fault = DOWN, rng.uniform(300, 2400), 17  # a breakdown with its fault code
            elif kind < 0.9:
                state, length, fault = DOWN, rng.uniform(60, 600), 0
            else:
                state, length, fault = SETUP, rng.uniform(480, 1200), 0  # a changeover
                self.product = 1 + self.product % 3
            out.append((t, state, self.product, fault))
            t += length
        return [e for e in out if e[0] < end]

    def rows(self, ids: dict[str, int], start: float, end: float) -> tuple[np.ndarray, ...]:
        """The machine's samples over [start, end) as (time_us, tag_id, value) arrays, stored on change."""
        events = self.events(start, end)
        times = np.array([e[0] for e in events])
        states = np.array([e[1] for e in events])
        products = np.array([e[2] for e in events])
        faults = np.array([e[3] for e in events])
        rows_t: list[np.ndarray] = []
        rows_tag: list[np.ndarray] = []
        rows_v: list[np.ndarray] = []

        def on_change(name: str, values: np.ndarray) -> None:
            keep = np.ones(len(values), bool)
            keep[1:] = values[1:] != values[:-1]
            rows_t.append(times[keep])
            rows_tag.append(np.full(int(keep.sum()), ids[name]))
            rows_v.append(values[keep].astype(float))

        on_change("state", states)
        on_change("product", products)
        on_change("fault", faults)
        # Cycles every 20-60 s; a part is made when the machine is running at the cycle's end.
        cycles = start + np.cumsum(self.rng.uniform(20, 60, int((end - start) / 20) + 2))
        cycles = cycles[cycles < end]
        at = np.searchsorted(times, cycles, side="right") - 1
        made = cycles[(at >= 0) & (states[np.maximum(at, 0)] == RUN)]
        good = self.rng.random(len(made)) >= 0.02
        totals = (self.total + np.arange(1, len(made) + 1)) % ROLLOVER
        goods = (self.good + np.cumsum(good)) % ROLLOVER
        self.total = float(totals[-1]) if len(totals) else self.total
        self.good = float(goods[-1]) if len(goods) else self.good
        rows_t += [made, made[good]]
        rows_tag += [np.full(len(made), ids["total"]), np.full(int(good.sum()), ids["good"])]
        rows_v += [totals, goods[good]]
        t = np.concatenate(rows_t)
        return (
            np.round(t * 1e6).astype(np.int64),
            np.concatenate(rows_tag).astype(np.int32),
            np.concatenate(rows_v),
        )


def _load(plant: list[dict[str, int]], sims: list[_Sim], *, start: datetime, end: datetime) -> int:
    from historian.sample_types import SampleBatch
    from historian.services.samples import current_values_write, samples_write_batch

    rows = 0
    t0, t1 = start.timestamp(), end.timestamp()
    step = 7 * 86400.0
    last: dict[int, tuple[int, float]] = {}
    a = t0
    while a < t1:
        b = min(a + step, t1)
        # One COPY per week for every machine (per machine, the per-call cost was most of the load).
        columns = [sim.rows(ids, a, b) for ids, sim in zip(plant, sims, strict=True)]
        time_us, tag_id, value = (np.concatenate([c[i] for c in columns]) for i in range(3))
        order = np.lexsort((time_us, tag_id))
        time_us, tag_id, value = time_us[order], tag_id[order], value[order]
        # Two values of one tag at one instant (a cycle on an event's microsecond): keep the last.
        keep = np.ones(len(time_us), bool)
        keep[:-1] = (tag_id[1:] != tag_id[:-1]) | (time_us[1:] != time_us[:-1])
        time_us, tag_id, value = time_us[keep], tag_id[keep], value[keep]
        batch = SampleBatch.of(time_us, tag_id, value, np.full(len(time_us), GOOD))
        rows += samples_write_batch(rows=batch, current_values=False)
        for k in np.flatnonzero(np.r_[tag_id[1:] != tag_id[:-1], True]):
            last[int(tag_id[k])] = (int(time_us[k]), float(value[k]))
        _progress(f"  loaded to {datetime.fromtimestamp(b, UTC):%Y-%m-%d}: {rows:,} rows")
        a = b
    current_values_write(
        rows=SampleBatch.of(
            [t for t, _ in last.values()], list(last), [v for _, v in last.values()], [GOOD] * len(last)
        )
    )
    return rows


# -- the naive computation ---------------------------------------------------------------------------------------------


def _naive(plant: list[dict[str, int]], *, start: datetime, end: datetime) -> Any:
    """The site's KPIs from raw samples: every machine's state, product and counter samples read over the range,
    intervals and per-product counts built here, production.kpis per machine, summed."""
    from historian.queries.aggregates import counter_delta
    from historian.queries.common import MAX_RAW_POINTS
    from historian.queries.raw import raw_values
    from production import kpis
    from production.models import ShiftCalendar

    calendar = ShiftCalendar.objects.get().calendar()
    states = {
        RUN: "running",
        IDLE: "idle",
        BLOCKED: "blocked",
        SETUP: "setup",
        PLANNED: "planned_stop",
        DOWN: "unplanned_down",
        OFF: "off",
    }
    jam = kpis.Reason(name="Jam", planned=False, loss=kpis.Loss.BREAKDOWN)
    parts = []
    for ids in plant:
        points: dict[int, list] = {ids[n]: [] for n in ("state", "product", "fault", "total", "good")}
        before: dict[int, Any] = {}
        a = start
        while a < end:
            b = min(a + timedelta(days=1), end)
            read = raw_values(tag_ids=list(points), start=a, end=b, boundaries=a == start, max_points=MAX_RAW_POINTS)
            for tag_id, rv in read.items():
                if a == start:
                    before[tag_id] = rv.before
                points[tag_id] += rv.points
            a = b
        # State intervals from the state, product and fault samples.
        changes: dict[datetime, dict[str, float]] = {}
        for name in ("state", "product", "fault"):
            tag_id = ids[name]
            first = before.get(tag_id)
            if first is not None:
                changes.setdefault(start, {})[name] = first.value
            for p in points[tag_id]:
                changes.setdefault(p.time, {})[name] = p.value
        current: dict[str, float] = {}
        intervals: list[kpis.StateInterval] = []
        key = None
        opened = None
        for at in sorted(changes):
            current.update(changes[at])
            if "state" not in current:
                continue
            new = (int(current["state"]), int(current.get("product", 0)), int(current.get("fault", 0)))
            new = (new[0], new[1], new[2] if new[0] != RUN else 0)
            if new == key:
                continue
            if key is not None and opened is not None:
                intervals.append(_naive_interval(states, jam, key, opened, at))
            key, opened = new, at
        if key is not None and opened is not None:
            intervals.append(_naive_interval(states, jam, key, opened, end))
        # Counts per product: each counter's rises, given to the product of the interval they end in.
        starts = [iv.start for iv in intervals]
        counts: dict[str, dict[str, float]] = {}
        for name in ("total", "good"):
            series = ([before[ids[name]]] if before.get(ids[name]) is not None else []) + points[ids[name]]
            for prev, p in itertools.pairwise(series):
                i = _index(starts, p.time)
                product = intervals[i].product if i >= 0 else None
                c = counts.setdefault(product or "", {})
                c[name] = c.get(name, 0.0) + counter_delta(prev.value, p.value, ROLLOVER)
        product_counts = [
            kpis.ProductCount.from_counters(
                code, produced=c.get("total", 0.0), good=min(c.get("good", 0.0), c.get("total", 0.0))
            )
            for code, c in counts.items()
        ]
        parts.append(
            kpis.machine_kpis(
                intervals=intervals,
                counts=product_counts,
                ideal_cycle_times=CYCLE_TIMES,
                calendar=calendar,
                start=start,
                end=end,
            )
        )
    return kpis.kpis_sum(parts)


def _index(starts: list[datetime], at: datetime) -> int:
    import bisect

    return bisect.bisect_right(starts, at) - 1


def _naive_interval(states, jam, key, start, end):
    from production import kpis

    state, product, fault = key
    return kpis.StateInterval(
        start=start,
        end=end,
        state=kpis.MachineState(states.get(state, "unplanned_down")),
        reason=jam if fault == 17 else None,
        product=str(product) if product else None,
    )


# -- derivation cost at ingest -------------------------------------------------------------------------------------


def _ingest(plant: list[dict[str, int]], sims: list[_Sim], *, start: datetime, minutes: int) -> dict[str, float]:
    """Polls of every machine once a second through readings_store; CPU of the whole path and of the derivation."""
    from historian.models import Device, Tag
    from historian.quality import Quality
    from ingest.pipeline.context import IngestContext
    from ingest.pipeline.hooks import after_store_hooks_make
    from ingest.pipeline.store import readings_store
    from ingest.protocols.base import PointReading
    from production.services.intervals import intervals_derive
    from production.services.live import downtime_publisher_cpu_seconds

    spent = {"derive": 0.0}

    def timed(**kwargs: Any) -> int:
        t = time.thread_time()  # this thread's: the publisher's thread is counted by itself, below
        try:
            return intervals_derive(**kwargs)
        finally:
            spent["derive"] += time.thread_time() - t

    # The writer's hooks as a poller makes them, the derivation timed.
    context = IngestContext(hooks=[timed if h is intervals_derive else h for h in after_store_hooks_make()])
    devices = {d.pk: d for d in Device.objects.all()}
    tags = {t.pk: t for t in Tag.objects.all()}
    t0, seconds = start.timestamp(), minutes * 60
    # Each machine's values, second by second: the simulation carried on past the history.
    streams = []
    for ids, sim in zip(plant, sims, strict=True):
        time_us, tag_id, value = sim.rows(ids, t0, t0 + seconds)
        order = np.argsort(time_us, kind="stable")
        streams.append((time_us[order], tag_id[order], value[order]))
    held = [{ids[n]: 0.0 for n in ("state", "product", "fault", "total", "good")} for ids in plant]
    # One tags mapping per device, as a poller keeps it (the store caches what it computes per mapping).
    device_tags = [{tag: tags[tag] for tag in mine} for mine in held]
    positions = [0] * len(plant)
    publisher_start = cpu_start = wall_start = 0.0
    for second in range(1, seconds + 1):
        if second == 2:
            # The first second's polls are the warm-up, untimed: this process's first look at each machine (its
            # open interval read) and at the configuration happen once per process, not per poll.
            spent["derive"] = 0.0
            publisher_start = downtime_publisher_cpu_seconds()
            cpu_start, wall_start = time.process_time(), time.perf_counter()
        now_us = int((t0 + second) * 1e6)
        for k, ids in enumerate(plant):
            time_us, tag_id, value = streams[k]
            p = positions[k]
            while p < len(time_us) and time_us[p] < now_us:
                held[k][int(tag_id[p])] = float(value[p])
                p += 1
            positions[k] = p
            readings = [PointReading(tag, v, Quality.GOOD) for tag, v in held[k].items()]
            readings_store(
                context=context,
                device=devices[ids["device"]],
                tags=device_tags[k],
                readings=readings,
                read_at=datetime.fromtimestamp(t0 + second, UTC),
            )
        if second % 60 == 0:
            _progress(f"  ingest: {second // 60} of {minutes} minutes")
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    # The downtime messages the derivation announces are built on the publisher's thread: its CPU is the
    # derivation's too.
    publisher = downtime_publisher_cpu_seconds() - publisher_start
    spent["derive"] += publisher
    return {
        "ingest_polls": (seconds - 1) * len(plant),
        "ingest_cpu_s": round(cpu, 3),
        "ingest_wall_s": round(wall, 3),
        "derive_cpu_s": round(spent["derive"], 3),
        "derive_publish_cpu_s": round(publisher, 3),
        "derive_cpu_share": round(spent["derive"] / cpu, 4) if cpu else 0.0,
    }


# -- the run --------------------------------------------------------------------------------------------------------


def _ranges(end: datetime, days: int) -> dict[str, tuple[datetime, datetime]]:
    """The last closed shift and local day before `end` (a local midnight), the last 30 and 90 local days (at most
    --days)."""
    from production.calendar import calendar_shifts, local_day
    from production.models import ShiftCalendar

    calendar = ShiftCalendar.objects.get().calendar()
    shift = [s for s in calendar_shifts(calendar, start=end - timedelta(days=1), end=end) if s.end <= end][-1]
    day = local_day(calendar, (end - timedelta(hours=1)).astimezone(calendar.tz).date())
    out = {"shift": (shift.start, shift.end), "day": (day.start, day.end)}
    for label, n in (("30d", 30), ("90d", 90)):
        # Whole local days, as a plant asks ("the last 90 days"): from the local midnight n days back.
        first = local_day(calendar, end.astimezone(calendar.tz).date() - timedelta(days=min(n, days)))
        out[label] = (first.start, end)
    return out


def _timed(run: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    result, times = None, []
    for _ in range(repeats):
        t = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - t) * 1000)
    return times, result


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    from production.queries.kpis import Scope, ScopeKind, scope_kpis
    from production.services.intervals import machine_intervals_rebuild

    info = server_info()
    tz = ZoneInfo(TZ)
    today = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    end = today.astimezone(UTC)  # the last local midnight: history up to it, every range below closed
    start = end - timedelta(days=args.days)
    _progress(f"plant: {args.machines} machines")
    plant = _plant(args.machines)
    sims = [_Sim(seed) for seed in range(args.machines)]
    _progress(f"loading {args.days} days of history")
    t = time.perf_counter()
    rows = _load(plant, sims, start=start, end=end)
    load_s = time.perf_counter() - t
    _progress(f"deriving intervals of {args.machines} machines from history")
    t = time.perf_counter()
    for ids in plant:
        machine_intervals_rebuild(machine_id=ids["machine"], now=end)
    derive_s = time.perf_counter() - t
    from production.models import StateInterval

    result: dict[str, Any] = {
        **info,
        "database": args.database_name,
        "machines": args.machines,
        "days": args.days,
        "rows": rows,
        "intervals": StateInterval.objects.count(),
        "load_seconds": round(load_s, 1),
        "rebuild_seconds": round(derive_s, 1),
        "repeats": args.repeats,
    }
    site = Scope(ScopeKind.SITE, __import__("historian.models", fromlist=["Site"]).Site.objects.get().pk)
    now = end + timedelta(hours=1)
    p95: dict[str, float] = {}
    ratios: dict[str, float] = {}
    for label, (a, b) in _ranges(end, args.days).items():
        _progress(f"timing {label}")
        t = time.perf_counter()
        first = scope_kpis(scope=site, start=a, end=b, now=now)
        result[f"oee_{label}_first_ms"] = round((time.perf_counter() - t) * 1000, 1)
        times, figures = _timed(partial(scope_kpis, scope=site, start=a, end=b, now=now), args.repeats)
        assert figures.oee == first.oee
        naive_times, naive = _timed(partial(_naive, plant, start=a, end=b), 1)
        result[f"oee_{label}_p50_ms"] = round(percentile(times, 0.5), 2)
        result[f"oee_{label}_p95_ms"] = round(percentile(times, 0.95), 2)
        result[f"naive_{label}_ms"] = round(naive_times[0], 1)
        result[f"oee_{label}"] = figures.oee
        result[f"naive_oee_{label}"] = naive.oee
        result[f"oee_{label}_agrees"] = (
            figures.oee is not None and naive.oee is not None and abs(figures.oee - naive.oee) < AGREE
        )
        p95[label] = result[f"oee_{label}_p95_ms"]
        ratios[label] = round(naive_times[0] / percentile(times, 0.5), 1)
    _progress(f"ingest: {args.ingest_minutes} minutes of 1 s polls of {args.machines} machines")
    result |= _ingest(plant, sims, start=end, minutes=args.ingest_minutes)
    result["oee_p95_ms"] = p95
    result["naive_ratio"] = ratios
    return result


def _report(result: dict[str, Any], out: TextIO) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    line(
        f"Millwright OEE benchmark: PostgreSQL {result['server_version']} ({result['storage_backend']} storage), "
        f"database {result['database']}"
    )
    line(
        f"{result['machines']} machines x {result['days']} days: {result['rows']:,} samples loaded in "
        f"{result['load_seconds']:.0f} s, {result['intervals']:,} intervals derived in "
        f"{result['rebuild_seconds']:.0f} s"
    )
    line()
    line(f"  {'range':<8}{'first ms':>12}{'p50 ms':>10}{'p95 ms':>10}{'naive ms':>12}{'ratio':>8}  OEE (query / naive)")
    for label in RANGES:
        if f"oee_{label}_p50_ms" not in result:
            continue
        oee, naive = result[f"oee_{label}"], result[f"naive_oee_{label}"]
        line(
            f"  {label:<8}{result[f'oee_{label}_first_ms']:>12.1f}{result[f'oee_{label}_p50_ms']:>10.2f}"
            f"{result[f'oee_{label}_p95_ms']:>10.2f}{result[f'naive_{label}_ms']:>12.1f}"
            f"{result['naive_ratio'][label]:>8.1f}  {oee:.4f} / {naive:.4f}"
        )
    line()
    line(
        f"ingest: {result['ingest_polls']:,} polls, {result['ingest_cpu_s']:.2f} s CPU, of which interval derivation "
        f"{result['derive_cpu_s']:.3f} s ({100 * result['derive_cpu_share']:.2f} %)"
    )
    line(json.dumps(result | {"derive_cpu_share": result["derive_cpu_share"]}, default=str))


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m bench.oee", description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=100, help="machines (%(default)s)")
    parser.add_argument("--days", type=int, default=90, help="days of history (%(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per range (%(default)s)")
    parser.add_argument("--ingest-minutes", type=int, default=5, help="minutes of 1 s polls timed (%(default)s)")
    database_arguments(parser, default_name=DEFAULT_DATABASE_NAME)
    args = parser.parse_args(argv)
    for name in ("machines", "days", "repeats", "ingest_minutes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    django_setup()
    started = time.perf_counter()
    with bench_database(args.database_name, args.database_url, keep=args.keep_database):
        result = _run(args)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    _report(result, out or sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
