"""Running a `manage.py` command in a process of its own, as the Procfile does."""

from collections.abc import Iterator

import pytest

from tests.manage_py import ManagePy
from tests.mqtt_broker import MosquittoBroker, broker_or_skip


@pytest.fixture
def broker(tmp_path) -> Iterator[MosquittoBroker]:
    with broker_or_skip(tmp_path) as server:
        yield server


@pytest.fixture
def manage_py(transactional_db, settings) -> Iterator[ManagePy]:
    command = ManagePy(settings.REDIS_URL)
    yield command
    command.kill()
