"""An area granted to a group or to one user: the shape of every "who may do X where" (operate, classify stops,
work on maintenance requests). Each app keeps its own table of grants, so granting one right never grants another."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


def group_xor_user(name: str) -> models.CheckConstraint:
    """The constraint each grant table carries under its own name: a grant goes to a group or to a user."""
    return models.CheckConstraint(
        condition=Q(group__isnull=False, user__isnull=True) | Q(group__isnull=True, user__isnull=False),
        name=name,
        violation_error_message="Grant the area to a group or to a user (one of the two).",
    )


class AreaGrant(models.Model):
    area = models.ForeignKey("historian.Area", on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True
        ordering = ["area"]

    def __str__(self) -> str:
        return f"{self.area}: {self.group or self.user}"

    @classmethod
    def granted_to(cls, user: Any) -> models.QuerySet[Any]:
        """The grants that reach `user`: made to them, or to a group they belong to."""
        return cls._default_manager.filter(Q(user_id=user.pk) | Q(group__user=user.pk))

    @classmethod
    def area_ids(cls, user: Any) -> set[int]:
        return set(cls.granted_to(user).values_list("area_id", flat=True))

    @classmethod
    def grants(cls, user: Any, area_id: int) -> bool:
        return cls.granted_to(user).filter(area_id=area_id).exists()
