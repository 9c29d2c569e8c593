"""Roles: Django groups whose permissions are set from the table below, the one place a role's rights are defined.

`roles_sync` (re)applies the table idempotently: from the data migration that creates the groups and after every
`migrate`, so an app that arrives later (its permissions are created in its own post_migrate) joins its roles then.
A permission named here that does not exist yet is skipped and reported, not an error.
"""

import logging
from enum import StrEnum
from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.models import Group, User
from django.db import transaction

logger = logging.getLogger(__name__)


class Role(StrEnum):
    WALL_SCREEN = "Wall screen"
    OPERATOR = "Operator"
    ENGINEER = "Engineer"
    ADMINISTRATOR = "Administrator"


# A wall screen in the control room (dashboards' kiosk page): sees the plant and its alarms, and nothing else: it
# does not operate, acknowledge, shelve, classify or export. Its sessions last WALL_SCREEN_SESSION_DAYS
# (accounts/services/sessions.py), so a screen nobody touches stays signed in across restarts.
_WALL_SCREEN = (
    "historian.view_plant",
    "alarms.view_alarm",
)
_OPERATOR = (
    "historian.view_plant",
    "alarms.view_alarm",
    "alarms.acknowledge_alarm",
    "alarms.shelve_alarm",
    # Stops of the areas granted to them or their group (production.DowntimeArea).
    "production.classify_downtime",
    # Setpoints and commands of the areas granted to them or their group (historian.OperateArea), under each
    # tag's write policy (ingest/services/writes.py). Administrators hold historian.operate_any_area.
    "historian.operate",
    # Maintenance work requests of the areas granted to them or their group (maintenance.MaintenanceArea).
    "maintenance.work_requests",
    # A line's report over any range, on demand (the end-of-shift reports are made for everyone).
    "production.request_shift_report",
)
_ENGINEER = (
    *_OPERATOR,
    "historian.use_trend_explorer",
    "historian.export_data",
    "accounts.manage_api_tokens",
    "inventory.view_asset",
    "inventory.view_assetchange",
    # Engineers look after the network and its devices: they see the inventory, and the security alarms raised
    # when it changes (with their evidence). Operators do not: a security alarm is not theirs to act on.
    "alarms.view_security_alarms",
    "production.classify_downtime_any_area",
    # Rules: engineers backtest them over the history of the areas they may operate in (automation.queries.access).
    "automation.backtest_rule",
    "automation.view_rule",
    "automation.view_rulefiring",
    "maintenance.work_requests_any_area",
    "maintenance.fit_health_model",
)
# "app.*": every permission of the app (its models' add/change/delete/view and its custom ones).
_ADMINISTRATOR = (
    *_ENGINEER,
    "historian.*",
    "alarms.*",
    "production.*",
    "automation.*",
    "maintenance.*",
    "inventory.view_asset",
    "inventory.view_assetchange",
    "inventory.delete_asset",
    "inventory.accept_into_baseline",
    "audit.view_auditevent",
    "auditlog.view_logentry",
    # API tokens: see them all and give or take the write scope (created and revoked by their owners).
    "api.view_apitoken",
    "api.change_apitoken",
    # People and their roles. No delete_user: accounts are deactivated, so the audit trail keeps naming them.
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.view_group",
    # Sign-in lockouts (django-axes): see them, and unlock by deleting the attempt.
    "axes.view_accessattempt",
    "axes.delete_accessattempt",
    "axes.view_accessfailurelog",
    "axes.view_accesslog",
)

ROLE_PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.WALL_SCREEN: _WALL_SCREEN,
    Role.OPERATOR: _OPERATOR,
    Role.ENGINEER: _ENGINEER,
    Role.ADMINISTRATOR: _ADMINISTRATOR,
}


def roles_sync(*, apps: Apps = global_apps, using: str = "default") -> dict[Role, list[str]]:
    """Create the role groups and give each exactly the permissions of the table; returns what is missing."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    rows = permission_model.objects.using(using).values_list("pk", "content_type__app_label", "codename")
    by_name: dict[str, int] = {}
    by_app: dict[str, set[int]] = {}
    for pk, app_label, codename in rows:
        by_name[f"{app_label}.{codename}"] = pk
        by_app.setdefault(app_label, set()).add(pk)
    missing: dict[Role, list[str]] = {}
    with transaction.atomic(using=using):
        for role, names in ROLE_PERMISSIONS.items():
            ids: set[int] = set()
            for name in names:
                if name.endswith(".*"):
                    ids |= by_app.get(name.removesuffix(".*"), set())
                elif name in by_name:
                    ids.add(by_name[name])
                else:
                    missing.setdefault(role, []).append(name)
            group, _ = group_model.objects.using(using).get_or_create(name=role.value)
            group.permissions.set(ids)
    if missing:
        logger.debug("Role permissions not installed (yet): %s", missing)
    return missing


def roles_sync_after_migrate(sender: Any, using: str = "default", apps: Apps | None = None, **kwargs: Any) -> None:
    apps = apps or global_apps
    try:
        apps.get_model("auth", "Group")
        apps.get_model("auth", "Permission")
    except LookupError:  # auth is not migrated (yet)
        return
    roles_sync(apps=apps, using=using)


def user_role_assign(*, user: User, role: Role | None) -> None:
    """Give `user` exactly one role (None: none). Administrators are staff: the configuration lives in admin."""
    with transaction.atomic():
        user.groups.remove(*Group.objects.filter(name__in=[r.value for r in Role]))
        if role is not None:
            user.groups.add(Group.objects.get(name=role.value))
        user.is_staff = role == Role.ADMINISTRATOR or user.is_superuser
        user.save(update_fields=["is_staff"])
