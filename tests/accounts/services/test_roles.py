from django.contrib.auth.models import Group, Permission

from accounts.services.roles import ROLE_PERMISSIONS, Role, roles_sync, user_role_assign
from tests.factories import UserFactory


def _perms(role: Role) -> set[str]:
    return {
        f"{app}.{code}"
        for app, code in Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")
    }


def test_the_migrations_create_the_three_roles_with_their_permissions(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"Operator", "Engineer", "Administrator"}
    assert _perms(Role.OPERATOR) == {
        "historian.view_plant",
        "alarms.view_alarm",
        "alarms.acknowledge_alarm",
        "alarms.shelve_alarm",
        "production.classify_downtime",  # in the areas granted (production.DowntimeArea)
        "historian.operate",  # in the areas granted (historian.OperateArea), under each tag's write policy
        "maintenance.work_requests",  # in the areas granted (maintenance.MaintenanceArea)
        "production.request_shift_report",  # a line's report over any range, on demand
    }
    assert _perms(Role.ENGINEER) == _perms(Role.OPERATOR) | {
        "historian.use_trend_explorer",
        "historian.export_data",
        "accounts.manage_api_tokens",
        "inventory.view_asset",
        "inventory.view_assetchange",
        "alarms.view_security_alarms",  # engineers look after the network: the security alarms are theirs too
        "production.classify_downtime_any_area",
        "automation.backtest_rule",  # over the history of the areas they may operate in
        "automation.view_rule",
        "automation.view_rulefiring",
        "maintenance.work_requests_any_area",
        "maintenance.fit_health_model",
    }
    administrator = _perms(Role.ADMINISTRATOR)
    assert administrator > _perms(Role.ENGINEER)
    assert {"historian.change_tag", "historian.add_device", "audit.view_auditevent"} <= administrator
    assert "auth.delete_user" not in administrator
    assert {"historian.operate_any_area", "historian.enable_device_writes"} <= administrator
    assert "audit.change_auditevent" not in administrator
    assert "inventory.delete_asset" in administrator  # a stale asset may go; what was observed is never edited
    assert "inventory.change_asset" not in administrator


def test_syncing_again_restores_a_role_changed_by_hand_and_changes_nothing_else(db):
    operator = Group.objects.get(name=Role.OPERATOR)
    operator.permissions.add(Permission.objects.get(codename="delete_tag"))
    before = {role: _perms(role) for role in (Role.ENGINEER, Role.ADMINISTRATOR)}

    missing = roles_sync()

    assert "historian.delete_tag" not in _perms(Role.OPERATOR)
    assert {role: _perms(role) for role in (Role.ENGINEER, Role.ADMINISTRATOR)} == before
    assert missing == {}


def test_a_permission_not_installed_yet_is_reported_not_an_error(db):
    ROLE_PERMISSIONS[Role.OPERATOR] = (*ROLE_PERMISSIONS[Role.OPERATOR], "later.do_something")
    try:
        missing = roles_sync()
    finally:
        ROLE_PERMISSIONS[Role.OPERATOR] = ROLE_PERMISSIONS[Role.OPERATOR][:-1]
    assert missing == {Role.OPERATOR: ["later.do_something"]}
    assert "historian.view_plant" in _perms(Role.OPERATOR)


def test_a_user_holds_one_role_and_only_administrators_are_staff(django_user_model):
    user = UserFactory(role=None)
    assert not user.groups.exists()

    user_role_assign(user=user, role=Role.ADMINISTRATOR)
    assert user.is_staff
    assert user.has_perm("historian.change_tag")

    user_role_assign(user=user, role=Role.OPERATOR)
    user = django_user_model.objects.get(pk=user.pk)  # a fresh permission cache
    assert list(user.groups.values_list("name", flat=True)) == ["Operator"]
    assert not user.is_staff
    assert user.has_perm("historian.view_plant")
    assert not user.has_perm("historian.change_tag")


def test_a_wall_screen_may_look_at_the_plant_and_its_alarms_and_do_nothing_else(db):
    assert _perms(Role.WALL_SCREEN) == {"historian.view_plant", "alarms.view_alarm"}
    screen = UserFactory(role=Role.WALL_SCREEN)
    assert not screen.is_staff
    for right in (
        "alarms.acknowledge_alarm",
        "alarms.shelve_alarm",
        "historian.operate",
        "historian.export_data",
        "historian.use_trend_explorer",
        "production.classify_downtime",
        "production.request_shift_report",
        "accounts.manage_api_tokens",
    ):
        assert not screen.has_perm(right), right
