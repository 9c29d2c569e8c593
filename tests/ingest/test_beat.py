from datetime import timedelta

import pytest

from config.celery import app
from historian.models import ScanClass
from ingest import beat
from ingest.beat import ScanClassScheduler

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler(scan_class):
    return ScanClassScheduler(app=app, lazy=False)


def test_every_scan_class_gets_a_poll_entry_at_its_period(scheduler, scan_class):
    entry = scheduler.schedule[f"scan-class-{scan_class.pk}"]
    assert entry.task == "ingest.tasks.poll_scan_class"
    assert entry.args == (scan_class.pk,)
    assert entry.schedule.run_every == timedelta(milliseconds=scan_class.period_ms)
    assert entry.options["expires"] == scan_class.period_ms / 1000
    assert "historian-partitions-ahead" in scheduler.schedule


def test_scan_classes_added_in_admin_are_picked_up_without_a_restart(scheduler, monkeypatch):
    slow = ScanClass.objects.create(name="Slow", period_ms=10_000)
    assert f"scan-class-{slow.pk}" not in scheduler.schedule

    monkeypatch.setattr(beat.time, "monotonic", lambda: scheduler._next_refresh + 1)
    scheduler._refresh()

    assert scheduler.schedule[f"scan-class-{slow.pk}"].schedule.run_every == timedelta(seconds=10)
    slow.delete()
    scheduler._refresh()
    assert f"scan-class-{slow.pk}" not in scheduler.schedule
