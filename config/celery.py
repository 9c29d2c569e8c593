"""The Celery application. Tasks live in each app's tasks.py and stay thin: take ids, call a service."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("millwright")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "historian-partitions-ahead": {"task": "historian.tasks.sample_partitions_maintain", "schedule": 3600.0},
}
