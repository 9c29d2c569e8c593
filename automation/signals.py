"""Cache invalidation only: the evaluations keep the enabled rules in memory (services/rules.py)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from automation.models import Rule
from automation.services.rules import rules_invalidate


@receiver([post_save, post_delete], sender=Rule)
def _rules_changed(**kwargs) -> None:
    rules_invalidate()
    transaction.on_commit(rules_invalidate)
