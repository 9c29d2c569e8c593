"""Thin Celery tasks: take ids, call a service. Polling itself runs in the poller of `celery worker --acquisition`
(ingest/acquisition/worker.py), not as a task per scan; the store-and-forward buffer is replayed by the processes
of the host that holds it (ingest/acquisition/replay.py), not by a task, which could run on any host."""
