"""Compression benchmark: how many of the demo plant's polled values the swinging door stores, and how far the
stored series strays from the polled one.

    python -m bench.compression [--seconds 86400] [--lines 3] [--machines 3] [--deviation-percent 0.5]

The demo plant's physics (`demo.simulator.plant.PlantSimulator`) run in accelerated time: the plant is stepped one
scan period at a time (each tag's scan class; the demo has one, 1 s) without waiting for the wall clock, and each
step's sensor readings (as the registers encode them: float32 signals rounded to float32) go, one batch per line
device as the poller sends them, through the real `ingest.pipeline.compression.CompressionFilter` with each tag's
storage policy (`StoragePolicy.for_tag` of the demo's tag settings). At the end the pending candidates are flushed,
as a worker handing its tags over does. No database is used.

Configured bound: the demo's tags are made by `demo.plant.demo_plant_load` with the model's defaults, i.e. no
compression deviation (0: every poll stored). For an analog tag whose configured bound is 0, --deviation-percent
(% of the tag's span, default 1 %: at least about 1.5 sigma of every signal's noise, see the table) is used instead
and the table says so; --deviation-percent 0 measures the configuration as it is (nothing to compress: reduction 1,
no error bound to compare with: `max_error_over_bound` null).

Figures, for the analog signals (float registers: linear interpolation), per signal and in all:
  - values polled, values stored, reduction = polled / stored;
  - max error: the stored series interpolated linearly at every polled time against the polled value, divided by
    the tag's bound (<= 1 is the promise);
  - the noise of the signal (robust sigma of its first differences / sqrt 2, while it moves), beside the bound;
  - the classic swinging door (Bristol's: the doors pivot at the last stored point +- the bound, a point is stored
    when they open past parallel; the error is not bounded by the deviation) on the same polled series and bound.
The last line printed is one JSON object: `reduction`, `max_error_over_bound` (the project's filter),
`classic_reduction`, `classic_max_error_over_bound` and the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from bench.common import django_setup

GOOD = 0xC0  # historian.quality.Quality.GOOD


@dataclass(frozen=True)
class Signal:
    """One analog tag of the plant: machine, signal name, bound (engineering units), whether it was configured."""

    machine: int
    name: str
    bound: float
    configured: bool


def _demo_tags(args: argparse.Namespace) -> tuple[list[Any], list[Any], list[str]]:
    """The demo's tags of one line as `demo_plant_load` makes them (unsaved), their storage policies and the
    scan period of each (ms). Every line has the same tags."""
    from demo.plant import _interpolation
    from demo.simulator.plant import MACHINE_SIGNALS
    from historian.models import Tag
    from historian.models.tags import DeviationUnit
    from ingest.pipeline.compression import StoragePolicy

    tags, policies, names = [], [], []
    for mi in range(args.machines):
        for spec in MACHINE_SIGNALS:
            tag = Tag(
                path=f"bench/L1-M{mi + 1}.{spec.name}",
                name=spec.name,
                data_type=spec.data_type,
                units=spec.units,
                span_low=spec.span[0],
                span_high=spec.span[1],
                interpolation=_interpolation(spec),
                counter_rollover=spec.rollover,
            )
            configured = tag.compression_deviation > 0 or tag.deadband > 0
            if not configured and not tag.is_discrete and args.deviation_percent > 0:
                tag.deviation_unit = DeviationUnit.PERCENT
                tag.compression_deviation = args.deviation_percent
            tags.append(tag)
            policies.append(StoragePolicy.for_tag(tag))
            names.append(spec.name)
    return tags, policies, names


def _classic_door(polled: np.ndarray, bound: np.ndarray, period: float) -> np.ndarray:
    """Classic swinging door over `polled` (time x tags, NaN = no value), all tags at once; the stored mask.

    Doors pivot at the archived point +- bound; the upper door's slope only rises, the lower's only falls; when the
    upper passes the lower, the previous point (the snapshot) is archived and the doors restart from it. A NaN is
    archived with the snapshot before it and the value after it (as a quality change is)."""
    steps, n = polled.shape
    stored = np.zeros((steps, n), dtype=bool)
    stored[0] = True
    a_t = np.zeros(n)
    a_v = polled[0].copy()
    up = np.full(n, -np.inf)
    low = np.full(n, np.inf)
    prev_nan = np.isnan(polled[0])
    for i in range(1, steps):
        v = polled[i]
        nan = np.isnan(v)
        t = i * period
        # A NaN, or the first value after one: archive the snapshot and this point, restart.
        edge = nan | prev_nan
        dt = t - a_t
        with np.errstate(invalid="ignore", divide="ignore"):
            new_up = np.maximum(up, (v - (a_v + bound)) / dt)
            new_low = np.minimum(low, (v - (a_v - bound)) / dt)
        opened = ~edge & (new_up > new_low)
        # The snapshot (i - 1) is archived and the doors restart from it with this point.
        snap = opened | (edge & ~prev_nan & (a_t < (i - 1) * period))
        stored[i - 1] |= snap
        restart = opened
        a_t = np.where(restart, (i - 1) * period, a_t)
        a_v = np.where(restart, polled[i - 1], a_v)
        dt = t - a_t
        with np.errstate(invalid="ignore", divide="ignore"):
            up = np.where(restart, (v - (a_v + bound)) / dt, new_up)
            low = np.where(restart, (v - (a_v - bound)) / dt, new_low)
        stored[i] |= edge
        a_t = np.where(edge, t, a_t)
        a_v = np.where(edge, v, a_v)
        up = np.where(edge, -np.inf, up)
        low = np.where(edge, np.inf, low)
        prev_nan = nan
    stored[-1] = True  # the snapshot at the end closes the last segment
    return stored


def _max_error(times: np.ndarray, polled: np.ndarray, stored_t: np.ndarray, stored_v: np.ndarray) -> float:
    """Largest |polled - stored interpolated linearly| over the polled times with a value."""
    ok = ~np.isnan(polled)
    keep = ~np.isnan(stored_v)
    if not ok.any() or not keep.any():
        return 0.0
    estimate = np.interp(times[ok], stored_t[keep], stored_v[keep])
    return float(np.max(np.abs(estimate - polled[ok])))


def _noise(series: np.ndarray) -> float:
    """Robust sigma of the point-to-point noise: median absolute first difference of the moving points / 0.6745 /
    sqrt 2 (a flat stretch is no evidence of the noise)."""
    d = np.diff(series[~np.isnan(series)])
    d = d[d != 0]
    if not len(d):
        return 0.0
    return float(np.median(np.abs(d)) / 0.6745 / math.sqrt(2))


def run(args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    django_setup()
    from demo.simulator.plant import PlantSimulator
    from ingest.pipeline.compression import CompressionFilter, PolicyArrays

    tags, policies, names = _demo_tags(args)
    period_ms = {1000}  # the demo's one scan class ("Fast", 1 s): every tag of the plant
    period = max(period_ms) / 1000.0
    steps = int(args.seconds / period) + 1
    float32 = np.array([t.data_type == "float32" for t in tags])
    analog = np.array([not t.is_discrete for t in tags])
    per_line = len(tags)
    plant = PlantSimulator(args.lines, args.machines, seed=args.seed, start=0.0, clock=args.clock)
    signal_names = list(dict.fromkeys(names))
    lines = plant.lines

    # Polled values: steps x (lines * tags per line).
    polled = np.empty((steps, args.lines * per_line), dtype=np.float64)
    started = time.perf_counter()
    for i in range(steps):
        if i:
            plant.step(i * period)
        else:
            plant.step(0.0)
        col = 0
        for line in lines:
            for machine in line.machines:
                values = machine.values()
                polled[i, col : col + len(signal_names)] = [values[name] for name in signal_names]
                col += len(signal_names)
    simulate_s = time.perf_counter() - started
    polled[:, np.tile(float32, args.lines)] = polled[:, np.tile(float32, args.lines)].astype(np.float32)

    # The project's filter, one batch per line device per scan.
    started = time.perf_counter()
    policy = PolicyArrays.of(policies)
    filt = CompressionFilter()
    stored_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (time index, column, value)
    quality = np.full(per_line, GOOD, dtype=np.int16)
    t0 = 1_700_000_000_000_000
    step_us = int(period * 1e6)
    tag_ids = [np.arange(li * per_line, (li + 1) * per_line, dtype=np.int32) + 1 for li in range(args.lines)]
    for i in range(steps):
        now = t0 + i * step_us
        for li, ids in enumerate(tag_ids):
            admitted = filt.admit_batch(ids, now, polled[i, li * per_line : (li + 1) * per_line], quality, policy)
            batch = admitted.stored(ids, now, polled[i, li * per_line : (li + 1) * per_line])
            if len(batch.tag_id):
                stored_rows.append(((batch.time_us - t0) // step_us, batch.tag_id - 1, batch.value))
    for row in filt.flush(range(1, args.lines * per_line + 1)):
        stored_rows.append(
            (
                np.array([(int((row.time.timestamp() * 1e6)) - t0) // step_us]),
                np.array([row.tag_id - 1]),
                np.array([np.nan if row.value is None else row.value]),
            )
        )
    filter_s = time.perf_counter() - started
    s_idx = np.concatenate([r[0] for r in stored_rows])
    s_col = np.concatenate([r[1] for r in stored_rows])
    s_val = np.concatenate([r[2] for r in stored_rows])
    order = np.lexsort((s_idx, s_col))
    s_idx, s_col, s_val = s_idx[order], s_col[order], s_val[order]
    bounds = np.tile(np.array([p.deviation for p in policies]), args.lines)
    configured = [t.compression_deviation > 0 and args.deviation_percent <= 0 for t in tags]

    # The classic door on the same series and bounds (analog tags with a bound).
    columns = np.flatnonzero(np.tile(analog, args.lines) & (bounds > 0))
    started = time.perf_counter()
    classic = _classic_door(polled[:, columns], bounds[columns], period)
    classic_s = time.perf_counter() - started

    times = np.arange(steps, dtype=np.float64)
    starts = np.searchsorted(s_col, np.arange(polled.shape[1] + 1))
    per_signal: dict[str, dict[str, float]] = {}
    for ci in np.flatnonzero(np.tile(analog, args.lines)):
        name = names[ci % per_line]
        sig = per_signal.setdefault(
            name,
            {"polled": 0, "stored": 0, "err": 0.0, "c_stored": 0, "c_err": 0.0, "bound": 0.0, "noise": 0.0, "n": 0},
        )
        idx = s_idx[starts[ci] : starts[ci + 1]]
        val = s_val[starts[ci] : starts[ci + 1]]
        bound = bounds[ci]
        sig["polled"] += steps
        sig["stored"] += len(idx)
        sig["bound"] = max(sig["bound"], bound)
        sig["noise"] = max(sig["noise"], _noise(polled[:, ci]))
        if bound > 0:
            sig["err"] = max(sig["err"], _max_error(times, polled[:, ci], idx.astype(np.float64), val) / bound)
            k = int(np.searchsorted(columns, ci))
            mask = classic[:, k]
            sig["c_stored"] += int(mask.sum())
            c_err = _max_error(times, polled[:, ci], times[mask], polled[mask, ci])
            sig["c_err"] = max(sig["c_err"], c_err / bound)

    print(
        f"Demo plant: {args.lines} lines x {args.machines} machines, {per_line * args.lines} tags "
        f"({int(analog.sum()) * args.lines} analog), {args.seconds:g} s of plant time at a {period:g} s scan, "
        f"seed {args.seed}; simulated in {simulate_s:.1f} s, filtered in {filter_s:.1f} s, classic door "
        f"{classic_s:.1f} s",
        file=out,
    )
    bound_note = (
        "configured bounds (the demo's tags: 0 = every poll stored)"
        if args.deviation_percent <= 0
        else f"bound: {args.deviation_percent:g} % of span for each analog tag (the demo configures none)"
    )
    print(bound_note, file=out)
    header = (
        f"{'signal':<22}{'bound':>10}{'noise σ':>10}{'polled':>10}{'stored':>9}{'reduct.':>9}{'err/bd':>8}"
        f"{'classic':>9}{'reduct.':>9}{'err/bd':>8}"
    )
    print(header, file=out)
    total_polled = total_stored = total_classic = 0
    worst = worst_classic = 0.0
    for name in signal_names:
        if name not in per_signal:
            continue
        sig = per_signal[name]
        total_polled += int(sig["polled"])
        total_stored += int(sig["stored"])
        total_classic += int(sig["c_stored"]) if sig["bound"] > 0 else int(sig["polled"])
        worst, worst_classic = max(worst, sig["err"]), max(worst_classic, sig["c_err"])
        c_stored = sig["c_stored"] if sig["bound"] > 0 else sig["polled"]
        print(
            f"{name:<22}{sig['bound']:>10.4g}{sig['noise']:>10.3g}{int(sig['polled']):>10}{int(sig['stored']):>9}"
            f"{sig['polled'] / max(sig['stored'], 1):>8.1f}x{sig['err']:>8.2f}"
            f"{int(c_stored):>9}{sig['polled'] / max(c_stored, 1):>8.1f}x{sig['c_err']:>8.2f}",
            file=out,
        )
    reduction = total_polled / max(total_stored, 1)
    any_bound = bool(len(columns))
    classic_reduction = total_polled / max(total_classic, 1)
    print(
        f"{'analog, all':<42}{total_polled:>10}{total_stored:>9}{reduction:>8.1f}x{worst:>8.2f}"
        f"{total_classic:>9}{classic_reduction:>8.1f}x{worst_classic:>8.2f}",
        file=out,
    )
    return {
        "seconds": args.seconds,
        "lines": args.lines,
        "machines": args.machines,
        "seed": args.seed,
        "scan_period_s": period,
        "deviation_percent": args.deviation_percent,
        "configured_bounds": any(configured),
        "analog_tags": int(analog.sum()) * args.lines,
        "values_polled": total_polled,
        "values_stored": total_stored,
        "reduction": round(reduction, 3),
        "max_error_over_bound": round(worst, 6) if any_bound else None,
        "classic_values_stored": total_classic,
        "classic_reduction": round(classic_reduction, 3),
        "classic_max_error_over_bound": round(worst_classic, 6) if any_bound else None,
        "per_signal": {
            name: {
                "reduction": round(sig["polled"] / max(sig["stored"], 1), 2),
                "max_error_over_bound": round(sig["err"], 4),
                "classic_reduction": round(sig["polled"] / max(sig["c_stored"] or sig["polled"], 1), 2),
                "classic_max_error_over_bound": round(sig["c_err"], 4),
                "bound": sig["bound"],
                "noise_sigma": round(sig["noise"], 5),
            }
            for name, sig in per_signal.items()
        },
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=86400.0, help="plant time to simulate (%(default)s: a day)")
    parser.add_argument("--lines", type=int, default=3, help="lines of the demo plant (%(default)s)")
    parser.add_argument("--machines", type=int, default=3, help="machines per line (%(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's seed (%(default)s)")
    parser.add_argument(
        "--clock", type=float, default=1_767_225_600.0, help="the plant's clock at the start, UTC epoch s (2026-01-01)"
    )
    parser.add_argument(
        "--deviation-percent",
        type=float,
        default=1.0,
        help="swinging-door bound, %% of span, for analog tags configured without one (%(default)s; 0: as configured)",
    )
    args = parser.parse_args(argv)
    if args.seconds < 10:
        parser.error("--seconds must be at least 10")
    if args.lines < 1 or args.machines < 1:
        parser.error("--lines and --machines must be at least 1")
    if args.deviation_percent < 0:
        parser.error("--deviation-percent cannot be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args, sys.stdout)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
