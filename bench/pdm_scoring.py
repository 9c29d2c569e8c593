"""The health scoring hook's cost on the ingest path (issue 15): CPU share of scoring in the store's CPU.

    python -m devtools.embedded run --profile bench -- python -m bench.pdm_scoring [--minutes 5] [--lines 3]

The demo plant (lines x 3 machines, the demo's wear) is stepped second by second in process; every machine's
readings go through the real store path (ingest.pipeline.store.readings_store with every app's after-store hooks,
as a poller makes them) once a second, and every machine has a health model (its analog tags, fitted on the
first minute). Timed: the whole store's CPU, and the scoring hook's thread CPU (its fits and its own writes of the
derived tags included). The hook scores a machine at most every MAINTENANCE_SCORE_SECONDS of the monotonic clock;
the replay runs faster than real time, so it is run with every batch scored (the worst case) and the share at the
configured pace is given from the CPU per score. A separate script, not a section of bench/pdm.py (under change on
another branch). The machine is shared: figures vary with the load of others.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import bench_django_setup, bench_run, database_arguments


def _run(args: argparse.Namespace) -> dict[str, Any]:
    import dataclasses

    from django.conf import settings
    from django.contrib.auth import get_user_model

    from demo.maintenance import SIGNALS
    from demo.plant import demo_plant_load
    from demo.simulator.plant import PlantSimulator
    from demo.simulator.production import DEMO_CALENDAR
    from demo.simulator.wear import DEMO_WEAR
    from historian.models import Device, Machine, Tag
    from historian.quality import Quality
    from ingest.pipeline.context import IngestContext
    from ingest.pipeline.hooks import after_store_hooks_make
    from ingest.pipeline.store import readings_store
    from ingest.protocols.base import PointReading
    from maintenance.services.health import health_model_create
    from maintenance.services.scoring import HealthScoring

    demo_plant_load(lines=args.lines, machines_per_line=3)
    admin = get_user_model().objects.create_superuser("bench", password=None)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=args.minutes + 2)
    for machine in Machine.objects.all():
        # The demo's five bearing signals (demo.maintenance), as CNC 102's model watches them.
        by_name = {t.path.rsplit(".", 1)[-1]: t for t in Tag.objects.filter(machine=machine)}
        health_model_create(
            machine=machine,
            user=admin,
            signals=[by_name[name] for name in SIGNALS if name in by_name],
            at=start,
            running_only=False,
            auto_train_minutes=1.0,
            sample_seconds=2.0,
        )
    settings.MAINTENANCE_SCORE_SECONDS = 0.0  # every batch: see the module's docstring
    settings.MAINTENANCE_FIT_RETRY_SECONDS = 5.0
    spent = {"scoring": 0.0, "scores": 0}

    class TimedScoring(HealthScoring):
        def __call__(self, **kwargs: Any) -> None:
            t = time.thread_time()
            try:
                super().__call__(**kwargs)
            finally:
                spent["scoring"] += time.thread_time() - t

        def score(self, **kwargs: Any) -> float | None:
            result = super().score(**kwargs)
            spent["scores"] += result is not None
            return result

    hooks = [TimedScoring() if isinstance(h, HealthScoring) else h for h in after_store_hooks_make()]
    context = IngestContext(hooks=hooks)
    plant = PlantSimulator(
        args.lines, 3, seed=1, wear=DEMO_WEAR, calendar=dataclasses.replace(DEMO_CALENDAR, breaks=())
    )
    machines = []
    for sim in plant.all_machines():
        line, number = sim.name[1:].split("-M")
        machine = Machine.objects.filter(line__name__startswith=f"Line {line}").order_by("name")[int(number) - 1]
        tags = {
            t.path.rsplit(".", 1)[-1]: t
            for t in Tag.objects.filter(machine=machine).exclude(device__protocol="derived")
        }
        device = Device.objects.get(pk=next(iter(tags.values())).device_id)
        machines.append((sim, device, tags))
    plant.step(0.0)
    seconds = args.minutes * 60
    cpu_start = 0.0
    warm = 90  # the first minute and a half: the fits, untimed
    for second in range(1, seconds + warm + 1):
        if second == warm + 1:
            spent["scoring"], spent["scores"] = 0.0, 0
            cpu_start = time.process_time()
        plant.step(float(second))
        at = start + timedelta(seconds=second)
        for sim, device, tags in machines:
            values = sim.wear_model.readings(sim.t, sim._true_values())
            readings = [
                PointReading(tags[name].pk, float(v), Quality.GOOD)
                for name, v in values.items()
                if name in tags and isinstance(v, int | float)
            ]
            readings_store(
                context=context, device=device, tags={t.pk: t for t in tags.values()}, readings=readings, read_at=at
            )
    cpu = time.process_time() - cpu_start
    per_score = spent["scoring"] / spent["scores"] if spent["scores"] else 0.0
    polls = seconds * len(machines)
    rest = cpu - spent["scoring"]
    paced = per_score * polls / 5.0  # a score per machine every 5 s (MAINTENANCE_SCORE_SECONDS' default)
    return {
        "machines": len(machines),
        "polls": polls,
        "store_cpu_s": round(cpu, 3),
        "scoring_cpu_s": round(spent["scoring"], 3),
        "scores": spent["scores"],
        "scoring_cpu_share_every_batch": round(spent["scoring"] / cpu, 4) if cpu else 0.0,
        "scoring_ms_per_score": round(1000 * per_score, 3),
        "store_ms_per_poll_without_scoring": round(1000 * rest / polls, 3),
        "scoring_cpu_share_at_5s": round(paced / (rest + paced), 4) if rest + paced else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=5, help="timed minutes of 1 s polls (%(default)s)")
    parser.add_argument("--lines", type=int, default=3, help="demo lines of 3 machines (%(default)s)")
    database_arguments(parser, default_name="millwright_bench_pdm_scoring")
    args = parser.parse_args(argv)
    if args.minutes < 1 or args.lines < 1:
        parser.error("--minutes and --lines must be at least 1")
    bench_django_setup(args)
    result = bench_run(args, lambda: _run(args))
    print(
        f"{result['machines']} machines, {result['polls']:,} polls: store {result['store_cpu_s']:.2f} s CPU, scoring "
        f"every batch {result['scoring_cpu_s']:.2f} s ({100 * result['scoring_cpu_share_every_batch']:.1f} %), "
        f"{result['scoring_ms_per_score']:.2f} ms per score; at one score per machine every 5 s: "
        f"{100 * result['scoring_cpu_share_at_5s']:.1f} % of the ingest CPU (shared machine: others' load varies)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
