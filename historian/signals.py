"""Signals historian sends so that other apps react without historian importing them (ARCHITECTURE.md)."""

from django.dispatch import Signal

# Sent inside a tag CSV import's transaction, once it is applied. Arguments: actor (a user or None), filename,
# details (the import's summary). The audit app records it (audit/receivers.py).
tag_csv_applied = Signal()

# Sent after a tag CSV import commits. Its bulk writes send no post_save, so whoever caches tag configuration
# listens here (ingest/signals.py: the pollers' configuration token). Arguments: created_ids, updated_ids.
tags_imported = Signal()
