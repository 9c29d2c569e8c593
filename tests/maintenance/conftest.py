"""A machine with three correlated analog signals and their normal history, for health models."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from historian.models import DataType, Machine, Tag
from maintenance.models import HealthModel
from maintenance.services.health import health_model_create
from tests.factories import DeviceFactory, MachineFactory, TagFactory
from tests.samples import write

SIGNALS = ("vibration_rms", "bearing_temperature", "motor_current")


@dataclass
class Watched:
    machine: Machine
    tags: dict[str, Tag]
    start: datetime  # the normal history starts here

    def model(self, **settings) -> HealthModel:
        settings.setdefault("running_only", False)
        settings.setdefault("auto_train_minutes", 20)
        settings.setdefault("sample_seconds", 10)
        return health_model_create(machine=self.machine, signals=list(self.tags.values()), at=self.start, **settings)


def normal_rows(n: int, seed: int = 1) -> np.ndarray:
    """Normal running: a common load drives the three signals, each with its own noise."""
    rng = np.random.default_rng(seed)
    load = rng.normal(0, 1, n)
    return np.column_stack(
        [
            2.0 + 0.2 * load + rng.normal(0, 0.05, n),
            45 + 2 * load + rng.normal(0, 0.5, n),
            20 + load + rng.normal(0, 0.3, n),
        ]
    )


@pytest.fixture
def watched(db) -> Watched:
    machine = MachineFactory(name="CNC 102")
    device = DeviceFactory()
    tags = {name: TagFactory(machine=machine, device=device, name=name, data_type=DataType.FLOAT32) for name in SIGNALS}
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    rows = normal_rows(240)  # 40 minutes, every 10 s
    for j, name in enumerate(SIGNALS):
        write(tags[name], [(start + timedelta(seconds=10 * i), float(rows[i, j])) for i in range(len(rows))])
    return Watched(machine, tags, start)
