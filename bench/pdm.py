"""Predictive maintenance benchmark: Millwright's health models, alerts and remaining useful life against the
simulator's ground truth, next to the classic fixed high alarm on vibration rms, in the same run.

    python -m bench.pdm [--machines 4] [--failures 2] [--healthy 2] [--faulty 2] [--weeks 0.5] [--seed 1]
    make bench PDM_BENCH_ARGS="--machines 2 --failures 1"     # a quick run

No database and no waiting: the demo's machine model (`demo.simulator.plant.Machine`, its wear and sensor faults in
`demo.simulator.wear`) is driven directly in accelerated plant time (1 s physics steps), sampled every --sample-s
seconds as the poller would store the values. Machines:

  failing   --machines machines, each run until --failures wear failures (spindle bearing or coolant pump, by turn,
            wear rates that give mean lives of 30-50 h); new parts at the start.
  healthy   --healthy machines that do not wear out within the run (rates 0.05x), --weeks each.
  faulty    --faulty such healthy machines whose sensors fail: every 4-8 h a stuck value, a drift or a dropout of a
            random analog signal for 10-60 min (not a machine fault: an alert on it is a false alert).

The detector sees only what the plant serves (signal values, state, fault code), never the ground truth. For each
machine: a PCA health model (`maintenance.health.pca`) fitted on the first --train-hours of running; every sample
while running scored after the sensor screen (`maintenance.health.alerting.sensor_screen`); every --eval-min minutes
`assess` decides (score held high, or the RUL interval's lower bound inside the planning horizon). An alert is raised
once and stays until the condition has been clear for an hour or the machine is repaired; the repair of a wear
failure (fault 715 or 717, which the plant serves) starts a new life for the RUL trend. The RUL's failure threshold
(the health index at which a machine fails) is learnt from the other failing machines' run-to-failures (leave one
machine out), as a plant would from its maintenance history; with one failing machine, --failure-threshold. With
--rul-index wear (the default) the RUL extrapolates instead each component's wear index (`maintenance.health.index`:
the signals' relative departures from the training means as fractions of their departures at the other machines'
failures, the median over the signals) to 1, and alerts on it only once the index is past --rul-min-level.

Baseline: a high alarm on vibration rms at --baseline-factor x the 99th percentile of the training window's running
vibration, with a 3-sample on-delay (ISA-18.2) so that short spikes (chatter, a chip) do not trip it.

Figures, for both: detection lead time (the failure time less the raise of the alert still active when the machine
fails; median and minimum, hours), missed failures, false alerts per machine-week on healthy machines and on sensor
faults (and alerts raised then cleared before a failure), and for Millwright the RUL error at every evaluation over
the last half of each failed life: RMSE (hours), the C-MAPSS asymmetric score (exp(-d/13) - 1 early, exp(d/10) - 1
late, d = predicted - true in hours; the mean per estimate), the share within +-20 % of the true RUL (no estimate
counts as outside) and the share with an estimate. Progress goes to stderr; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

import numpy as np

from demo.simulator.plant import Machine, MachineState
from demo.simulator.wear import MODES, SENSOR_FAULT_SIGNALS, FailureMode, SensorFaultKind, WearConfig
from maintenance.health.alerting import AlertPolicy, assess, sensor_screen
from maintenance.health.errors import HealthModelError
from maintenance.health.index import WearIndex, relative_deviation, wear_index, wear_index_learn
from maintenance.health.pca import pca_fit, pca_reconstruct

#: The signals the health model watches: every analog process value a wear mode or the load moves. (With the
#: operating point, spindle speed and feed rate, added, the RUL's failure thresholds spread more between machines.)
SIGNALS = (
    "vibration_rms",
    "vibration_hf",
    "bearing_temperature",
    "motor_current",
    "motor_temperature",
    "spindle_load",
    "cycle_time",
    "coolant_pressure",
    "coolant_temperature",
)
MEASURED = (FailureMode.BEARING, FailureMode.COOLANT_PUMP)
#: The signals each component's wear moves: which component a rising score points at, from its contributions.
COMPONENT_SIGNALS = {
    FailureMode.BEARING.value: ("vibration_rms", "vibration_hf", "bearing_temperature", "motor_current"),
    FailureMode.COOLANT_PUMP.value: ("coolant_pressure", "coolant_temperature"),
}
RESET_CODES = {MODES[mode].fault_code for mode in MEASURED}
WEEK_H = 168.0
BASELINE_ON_DELAY = 3  # samples
CLEAR_H = 1.0  # an alert clears after its condition has been false this long


def _progress(text: str) -> None:
    print(f"[bench.pdm {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass
class Run:
    """One machine's sampled history and ground truth (times in hours of plant time)."""

    name: str
    kind: str  # failing, healthy, faulty
    t: np.ndarray
    state: np.ndarray
    code: np.ndarray
    X: np.ndarray
    failures: list[tuple[float, float, str]]  # (life start, failure time, mode)
    hours: float
    sensor_faults: int = 0


def _simulate(
    name: str,
    kind: str,
    config: WearConfig,
    seed: int,
    *,
    hours: float,
    failures: int,
    sample_s: int,
    faults: Sequence[tuple[str, SensorFaultKind, float, float, float]] = (),
) -> Run:
    machine = Machine(0, 0, random.Random(seed), wear=config, wear_seed=seed)
    for signal, fault_kind, start, duration, rate in faults:
        machine.sensor_fault_add(signal, fault_kind, start=start, duration=duration, rate=rate)
    rows: list[list[float]] = []
    meta: list[tuple[float, int, int]] = []
    steps = int(hours * 3600)
    for second in range(1, steps + 1):
        machine.advance(1.0)
        if second % sample_s == 0:
            values = machine.values()
            rows.append([values[s] for s in SIGNALS])
            meta.append((machine.t / 3600.0, int(values["state"]), int(values["alarm_code"])))
            if failures and second % 3600 == 0:
                done = [
                    life for life in machine.wear_model.lives if life.ended_by == "failure" and life.mode in MEASURED
                ]
                if len(done) >= failures and machine.state == MachineState.RUNNING:
                    break
    lives = [
        (life.start / 3600.0, life.failure_at / 3600.0, life.mode.value)
        for life in machine.wear_model.lives
        if life.ended_by == "failure" and life.mode in MEASURED
    ]
    meta_a = np.asarray(meta)
    return Run(
        name=name,
        kind=kind,
        t=meta_a[:, 0],
        state=meta_a[:, 1].astype(int),
        code=meta_a[:, 2].astype(int),
        X=np.asarray(rows, dtype=float),
        failures=lives,
        hours=float(meta_a[-1, 0]),
        sensor_faults=len(faults),
    )


def _fault_plan(
    rng: random.Random, hours: float, train_h: float
) -> list[tuple[str, SensorFaultKind, float, float, float]]:
    plan = []
    start = (train_h + rng.uniform(1.0, 4.0)) * 3600.0
    kinds = list(SensorFaultKind)
    i = 0
    while start < hours * 3600.0:
        signal = rng.choice(sorted(SENSOR_FAULT_SIGNALS))
        rate = rng.uniform(*SENSOR_FAULT_SIGNALS[signal]) * rng.choice((-1.0, 1.0))
        plan.append((signal, kinds[i % len(kinds)], start, rng.uniform(600.0, 3600.0), rate))
        i += 1
        start += rng.uniform(4.0, 8.0) * 3600.0
    return plan


def simulate(args: argparse.Namespace) -> list[Run]:
    rng = random.Random(args.seed)
    runs: list[Run] = []
    for i in range(args.machines):
        mode = MEASURED[i % 2]
        other = MEASURED[(i + 1) % 2]
        rate = MODES[mode].mean_life_hours / rng.uniform(30.0, 50.0)  # a mean life of 30-50 h
        config = WearConfig(
            wear_rate=rng.uniform(0.8, 1.2),
            mode_rates={mode: rate, other: 0.05},
            initial_age={m: 0.0 for m in FailureMode},
        )
        hours = args.train_hours + args.failures * 100.0  # a cap: the run ends at its last failure
        runs.append(
            _simulate(
                f"failing-{i + 1}",
                "failing",
                config,
                rng.randrange(1 << 30),
                hours=hours,
                failures=args.failures,
                sample_s=args.sample_s,
            )
        )
        _progress(f"{runs[-1].name}: {mode.value}, {runs[-1].hours:.0f} h, {len(runs[-1].failures)} failure(s)")
    hours = args.weeks * WEEK_H
    for kind, count in (("healthy", args.healthy), ("faulty", args.faulty)):
        for i in range(count):
            config = WearConfig(mode_rates={m: 0.05 for m in MEASURED}, initial_age={m: 0.0 for m in FailureMode})
            seed = rng.randrange(1 << 30)
            faults = _fault_plan(random.Random(seed), hours, args.train_hours) if kind == "faulty" else []
            runs.append(
                _simulate(
                    f"{kind}-{i + 1}",
                    kind,
                    config,
                    seed,
                    hours=hours,
                    failures=0,
                    sample_s=args.sample_s,
                    faults=faults,
                )
            )
            _progress(f"{runs[-1].name}: {runs[-1].hours:.0f} h, {len(faults)} sensor fault(s)")
    return runs


@dataclass
class Scored:
    run: Run
    running: np.ndarray  # indices of the running samples
    health: np.ndarray
    corroborated: np.ndarray
    resets: list[float]  # hours at which a repaired wear failure starts a new life
    baseline_limit: float
    components: np.ndarray  # (n, components): each running sample's contributions summed per component
    signals: tuple[str, ...] = ()  # the model's signals (the columns of `deviations`)
    deviations: np.ndarray | None = None  # (n, p) relative departures from the training means (sensor-screened)
    #: (component, the corroborated index just before the failure) for each failure: the maintenance history
    at_failure: list[tuple[str, float]] = field(default_factory=list)
    #: (component, the relative departures of the signals just before the failure) for each failure
    departures: list[tuple[str, np.ndarray]] = field(default_factory=list)


def score(run: Run, args: argparse.Namespace) -> Scored:
    running = np.flatnonzero(run.state == int(MachineState.RUNNING))
    train = running[run.t[running] < args.train_hours]
    model = pca_fit(run.X[train], SIGNALS, drop_flat=True, drop_nonfinite=True)
    columns = np.asarray([SIGNALS.index(s) for s in model.signals])
    screened = sensor_screen(model, run.X[np.ix_(running, columns)])
    vibration = run.X[train, SIGNALS.index("vibration_rms")]
    limit = args.baseline_factor * float(np.nanpercentile(vibration, 99))
    resets = []
    down = np.isin(run.code, list(RESET_CODES))
    for i in np.flatnonzero(down[:-1] & ~down[1:]):
        resets.append(float(run.t[i + 1]))
    contributions = screened.scores.contributions
    components = np.column_stack(
        [
            contributions[:, [j for j, s in enumerate(model.signals) if s in signals]].sum(axis=1)
            for signals in COMPONENT_SIGNALS.values()
        ]
    )
    scores = screened.scores
    deviations = relative_deviation(model, pca_reconstruct(model, run.X[np.ix_(running, columns)], screened.mask))
    scored = Scored(
        run, running, scores.health, scores.health_corroborated, resets, limit, components, model.signals, deviations
    )
    tr = run.t[running]
    for _start, failure, mode in run.failures:
        before = (tr > failure - 0.5) & (tr <= failure)
        values = scored.corroborated[before]
        values = values[np.isfinite(values)]
        if values.size:
            scored.at_failure.append((mode, float(np.median(values))))
            scored.departures.append((mode, np.nanmedian(deviations[before], axis=0)))
    return scored


@dataclass
class Alerts:
    raised: list[float] = field(default_factory=list)
    cleared: list[float] = field(default_factory=list)  # parallel to raised: inf while still active
    rul: list[tuple[float, float | None]] = field(default_factory=list)  # (time, median RUL) at every evaluation


def _latch(alerts: Alerts, now: float, due: bool, state: dict[str, float]) -> None:
    active = bool(alerts.raised) and math.isinf(alerts.cleared[-1])
    if due:
        state["last_due"] = now
        if not active:
            alerts.raised.append(now)
            alerts.cleared.append(math.inf)
    elif active and now - state.get("last_due", now) >= CLEAR_H:
        alerts.cleared[-1] = now


def _end_life(alerts: Alerts, now: float) -> None:
    if alerts.raised and math.isinf(alerts.cleared[-1]):
        alerts.cleared[-1] = now


def component_now(scored: Scored, lo: int, hi: int) -> str:
    """The component the last hour's scores point at (the largest sum of its signals' contributions)."""
    t = scored.run.t[scored.running]
    recent = slice(max(lo, int(np.searchsorted(t, t[hi - 1] - 1.0))), hi)
    sums = np.nansum(scored.components[recent], axis=0)
    return list(COMPONENT_SIGNALS)[int(np.argmax(sums))]


def millwright_alerts(
    scored: Scored,
    policy: AlertPolicy,
    thresholds: dict[str, float],
    args: argparse.Namespace,
    indices: dict[str, WearIndex] | None = None,
) -> Alerts:
    """`indices`: per component, the wear index learnt from the history (its RUL then extrapolates that index to 1);
    a component without one: the corroborated health index to `thresholds`."""
    run = scored.run
    t = run.t[scored.running]
    indices = indices or {}
    assert scored.deviations is not None
    series = {c: wear_index(index, scored.signals, scored.deviations) for c, index in indices.items()}
    alerts = Alerts()
    state: dict[str, float] = {}
    life_start = 0.0
    resets = list(scored.resets)
    step = args.eval_min / 60.0
    now = args.train_hours
    while now <= run.hours:
        while resets and resets[0] <= now:
            _end_life(alerts, resets[0])
            life_start = resets.pop(0)
            state.clear()
        lo, hi = np.searchsorted(t, [life_start, now], side="right")
        if hi - lo >= 2:
            component = component_now(scored, lo, hi)
            wear = series.get(component)
            policy = replace(policy, failure_threshold=1.0 if wear is not None else thresholds[component])
            verdict = assess(
                policy,
                t[lo:hi],
                scored.health[lo:hi],
                scored.corroborated[lo:hi],
                now_h=now,
                rul_index=None if wear is None else wear[lo:hi],
            )
            _latch(alerts, now, verdict.alert, state)
            alerts.rul.append((now, None if verdict.rul is None else verdict.rul.median_h))
        now += step
    return alerts


def baseline_alerts(scored: Scored) -> Alerts:
    """The fixed high alarm on vibration rms with its on-delay, over every sample (running or not), latched the same
    way."""
    run = scored.run
    vibration = run.X[:, SIGNALS.index("vibration_rms")]
    alerts = Alerts()
    state: dict[str, float] = {}
    streak = 0
    resets = list(scored.resets)
    for now, value in zip(run.t, vibration, strict=True):
        while resets and resets[0] <= now:
            _end_life(alerts, resets.pop(0))
            state.clear()
        streak = streak + 1 if value > scored.baseline_limit else 0
        _latch(alerts, float(now), streak >= BASELINE_ON_DELAY, state)
    return alerts


@dataclass
class Figures:
    lead_h: list[float] = field(default_factory=list)
    missed: int = 0
    early_alerts: int = 0  # raised and cleared again on a failing machine before its failure
    false_healthy: int = 0
    false_faulty: int = 0
    healthy_weeks: float = 0.0
    faulty_weeks: float = 0.0
    rul_errors: list[float] = field(default_factory=list)  # predicted - true, hours
    rul_within: int = 0
    rul_points: int = 0
    rul_estimates: int = 0

    def add(self, run: Run, alerts: Alerts, *, measure_rul: bool) -> None:
        if run.kind != "failing":
            weeks = run.hours / WEEK_H
            if run.kind == "healthy":
                self.false_healthy += len(alerts.raised)
                self.healthy_weeks += weeks
            else:
                self.false_faulty += len(alerts.raised)
                self.faulty_weeks += weeks
            return
        previous = 0.0
        for start, failure, _mode in run.failures:
            in_life = [(r, c) for r, c in zip(alerts.raised, alerts.cleared, strict=True) if previous <= r < failure]
            active = [r for r, c in in_life if c >= failure]
            self.early_alerts += sum(1 for r, c in in_life if c < failure)
            if active:
                self.lead_h.append(failure - active[0])
            else:
                self.missed += 1
            if measure_rul:
                half = start + 0.5 * (failure - start)
                for now, median in alerts.rul:
                    if half <= now < failure:
                        true = failure - now
                        self.rul_points += 1
                        if median is not None:
                            self.rul_estimates += 1
                            self.rul_errors.append(median - true)
                            self.rul_within += abs(median - true) <= 0.2 * true
            previous = failure

    def summary(self) -> dict[str, Any]:
        errors = np.asarray(self.rul_errors)
        weeks = self.healthy_weeks + self.faulty_weeks
        cmapss = np.where(errors < 0, np.exp(-errors / 13.0) - 1, np.exp(errors / 10.0) - 1) if errors.size else errors
        return {
            "failures": len(self.lead_h) + self.missed,
            "missed_failures": self.missed,
            "lead_time_h_median": round(float(np.median(self.lead_h)), 2) if self.lead_h else None,
            "lead_time_h_min": round(min(self.lead_h), 2) if self.lead_h else None,
            "alerts_cleared_before_failure": self.early_alerts,
            "false_alerts_per_machine_week_healthy": _rate(self.false_healthy, self.healthy_weeks),
            "false_alerts_per_machine_week_sensor_faults": _rate(self.false_faulty, self.faulty_weeks),
            "false_alerts_per_machine_week": _rate(self.false_healthy + self.false_faulty, weeks),
            "rul_rmse_h": round(float(np.sqrt(np.mean(errors**2))), 2) if errors.size else None,
            "rul_cmapss_score_mean": round(float(np.mean(cmapss)), 3) if errors.size else None,
            "rul_within_20pct_share": round(self.rul_within / self.rul_points, 3) if self.rul_points else None,
            "rul_estimate_share": round(self.rul_estimates / self.rul_points, 3) if self.rul_points else None,
        }


def failure_thresholds(history: Sequence[Scored], default: float) -> dict[str, float]:
    """Per component, the geometric median of the corroborated index just before the failures of `history` (other
    machines' run-to-failures); a component without any: that of all of them, or `default`."""
    values: dict[str, list[float]] = {c: [] for c in COMPONENT_SIGNALS}
    for s in history:
        for component, value in s.at_failure:
            values[component].append(value)
    every = [v for vs in values.values() for v in vs]
    fallback = float(np.exp(np.median(np.log(every)))) if every else default
    return {c: float(np.exp(np.median(np.log(vs)))) if vs else fallback for c, vs in values.items()}


def wear_indices(history: Sequence[Scored]) -> dict[str, WearIndex]:
    """Per component with failures in `history` (other machines' run-to-failures), its wear index learnt from the
    signals' departures at those failures (a component without a usable history has none)."""
    indices: dict[str, WearIndex] = {}
    for component, signals in COMPONENT_SIGNALS.items():
        rows = [dict(zip(s.signals, d, strict=True)) for s in history for c, d in s.departures if c == component]
        if not rows:
            continue
        try:
            indices[component] = wear_index_learn(
                signals, np.asarray([[row.get(name, math.nan) for name in signals] for row in rows])
            )
        except HealthModelError:
            continue
    return indices


def _rate(count: int, weeks: float) -> float | None:
    return round(count / weeks, 3) if weeks > 0 else None


def _run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.process_time()
    runs = simulate(args)
    simulated_cpu = time.process_time() - started
    scored = [score(run, args) for run in runs]
    failing = [s for s in scored if s.run.kind == "failing"]
    millwright, baseline = Figures(), Figures()
    policy = AlertPolicy(
        score_limit=args.score_limit,
        hold_h=args.hold_h,
        planning_horizon_h=args.horizon_h,
        rul_min_level=args.rul_min_level,
    )
    learnt: list[float] = []
    for s in scored:
        others = [o for o in failing if o is not s]
        thresholds = failure_thresholds(others, args.failure_threshold)
        learnt.extend(thresholds.values())
        indices = wear_indices(others) if args.rul_index == "wear" else {}
        alerts = millwright_alerts(s, policy, thresholds, args, indices)
        millwright.add(s.run, alerts, measure_rul=True)
        baseline.add(s.run, baseline_alerts(s), measure_rul=False)
        shown = ", ".join(f"{c} {v:.0f}" for c, v in thresholds.items())
        _progress(f"{s.run.name}: {len(alerts.raised)} alert(s); failure thresholds {shown}")
    mine, theirs = millwright.summary(), baseline.summary()
    ratio = (
        round(mine["lead_time_h_median"] / theirs["lead_time_h_median"], 2)
        if mine["lead_time_h_median"] and theirs["lead_time_h_median"]
        else None
    )
    return {
        "millwright": mine,
        "baseline": theirs,
        "lead_time_ratio": ratio,
        "machines": {kind: sum(1 for r in runs if r.kind == kind) for kind in ("failing", "healthy", "faulty")},
        "machine_hours": round(sum(r.hours for r in runs), 1),
        "sensor_faults": sum(r.sensor_faults for r in runs),
        "failure_threshold_median": round(float(np.median(learnt)), 1),
        "simulation_cpu_s": round(simulated_cpu, 1),
        "detection_cpu_s": round(time.process_time() - started - simulated_cpu, 1),
    }


def _report(result: dict[str, Any], out: TextIO) -> None:
    mine, theirs = result["millwright"], result["baseline"]

    def row(label: str, key: str, unit: str = "") -> None:
        print(f"  {label:<44} {_fmt(mine[key]):>10} {_fmt(theirs[key]):>10} {unit}", file=out)

    print(
        f"bench.pdm: {result['machines']['failing']} failing, {result['machines']['healthy']} healthy and "
        f"{result['machines']['faulty']} sensor-fault machines, {result['machine_hours']:.0f} machine-hours, "
        f"{result['sensor_faults']} sensor faults (simulation {result['simulation_cpu_s']} s CPU, detection "
        f"{result['detection_cpu_s']} s CPU)",
        file=out,
    )
    print(f"  {'':<44} {'millwright':>10} {'baseline':>10}", file=out)
    row("failures", "failures")
    row("missed failures", "missed_failures")
    row("detection lead time, median", "lead_time_h_median", "h")
    row("detection lead time, minimum", "lead_time_h_min", "h")
    row("alerts raised then cleared before a failure", "alerts_cleared_before_failure")
    row("false alerts per machine-week, healthy", "false_alerts_per_machine_week_healthy")
    row("false alerts per machine-week, sensor faults", "false_alerts_per_machine_week_sensor_faults")
    row("RUL RMSE over the last half of life", "rul_rmse_h", "h")
    row("RUL C-MAPSS score, mean per estimate", "rul_cmapss_score_mean")
    row("RUL within +-20 %, share", "rul_within_20pct_share")
    row("RUL estimate given, share", "rul_estimate_share")
    print(f"  lead time ratio to the baseline: {_fmt(result['lead_time_ratio'])}", file=out)
    line = {
        "lead_time_h_median": mine["lead_time_h_median"],
        "baseline_lead_time_h_median": theirs["lead_time_h_median"],
        "false_alerts_per_machine_week": mine["false_alerts_per_machine_week"],
        "missed_failures": mine["missed_failures"],
        "rul_rmse_h": mine["rul_rmse_h"],
        "rul_within_20pct_share": mine["rul_within_20pct_share"],
        **{f"millwright_{k}": v for k, v in mine.items()},
        **{f"baseline_{k}": v for k, v in theirs.items() if k.startswith(("lead", "missed", "false", "alerts"))},
        "lead_time_ratio": result["lead_time_ratio"],
        "machine_hours": result["machine_hours"],
    }
    print(json.dumps(line), file=out)


def _fmt(value: Any) -> str:
    return "-" if value is None else str(value)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pdm", description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=4, help="machines run to failure (%(default)s)")
    parser.add_argument("--failures", type=int, default=2, help="wear failures per failing machine (%(default)s)")
    parser.add_argument("--healthy", type=int, default=2, help="healthy machines (%(default)s)")
    parser.add_argument("--faulty", type=int, default=2, help="healthy machines with sensor faults (%(default)s)")
    parser.add_argument("--weeks", type=float, default=0.5, help="run time of healthy machines (%(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-s", type=int, default=60, help="sample period, plant seconds (%(default)s)")
    parser.add_argument("--train-hours", type=float, default=6.0, help="training window (%(default)s)")
    parser.add_argument("--eval-min", type=float, default=15.0, help="alerting period, minutes (%(default)s)")
    parser.add_argument("--score-limit", type=float, default=0.8, help="health index limit (%(default)s)")
    parser.add_argument("--hold-h", type=float, default=2.0, help="score held high this long (%(default)s)")
    parser.add_argument("--horizon-h", type=float, default=8.0, help="planning horizon, h (%(default)s)")
    parser.add_argument(
        "--failure-threshold",
        type=float,
        default=50.0,
        help="the health index at failure, with one failing machine (%(default)s)",
    )
    parser.add_argument(
        "--baseline-factor",
        type=float,
        default=1.5,
        help="baseline alarm: this x the training p99 of vibration rms (%(default)s)",
    )
    parser.add_argument(
        "--rul-index",
        choices=("wear", "health"),
        default="wear",
        help="the RUL extrapolates each component's wear index learnt from the other machines' failures, or the "
        "corroborated health index to its learnt failure threshold (%(default)s)",
    )
    parser.add_argument(
        "--rul-min-level",
        type=float,
        default=0.2,
        help="the wear index (1 at failure) a RUL alert needs (%(default)s)",
    )
    args = parser.parse_args(argv)
    if args.machines < 1 or args.failures < 1 or args.healthy < 0 or args.faulty < 0 or args.weeks <= 0:
        parser.error("--machines and --failures at least 1, --healthy and --faulty at least 0, --weeks > 0")
    started = time.perf_counter()
    try:
        result = _run(args)
    except HealthModelError as error:
        parser.error(str(error))
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    _report(result, out or sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
