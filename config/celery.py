"""The Celery application. Tasks live in each app's tasks.py and stay thin: take ids, call a service."""

import os

from celery import Celery

from ingest.acquisition.worker import ACQUISITION_OPTION, AcquisitionStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("millwright")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# `celery worker --acquisition`: the worker polls the devices (ingest/acquisition/worker.py, poller.py).
app.user_options["worker"].add(ACQUISITION_OPTION)
app.steps["worker"].add(AcquisitionStep)

app.conf.beat_schedule = {
    "historian-partitions-ahead": {"task": "historian.tasks.sample_partitions_maintain", "schedule": 3600.0},
    # Plain PostgreSQL rollups (a no-op on TimescaleDB, whose policies refresh them) and retention.
    "historian-rollups-refresh": {
        "task": "historian.tasks.rollups_maintain",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    "historian-retention": {"task": "historian.tasks.retention_maintain", "schedule": 86400.0},
    # No store-and-forward replay here: a buffer is a file on one worker host, replayed by the processes of that
    # host (ingest/acquisition/replay.py); a task on the shared queue could land on any host.
    # Alarms: shelves end on time, unacknowledged alarms escalate, journal partitions exist ahead.
    "alarms-shelves-expire": {
        "task": "alarms.tasks.alarm_shelves_expire_due",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "alarms-escalations": {"task": "alarms.tasks.alarm_escalations", "schedule": 30.0, "options": {"expires": 30.0}},
    "alarms-journal-partitions": {"task": "alarms.tasks.alarm_journal_maintain", "schedule": 3600.0},
    # Production: each shift's report per line, a few minutes after the shift ends (once per line and shift).
    "production-shift-reports": {
        "task": "production.tasks.shift_reports_generate",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Rules whose condition no stored value brings (an alarm's state, a KPI, a schedule).
    "automation-rules-tick": {
        "task": "automation.tasks.rules_tick_run",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    },
}
