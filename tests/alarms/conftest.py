"""Alarm fixtures: the demo plant's tags by signal name, definitions made to measure, users with alarm rights."""

import pytest
from django.contrib.auth.models import Permission

from alarms.models import AlarmDefinition


@pytest.fixture
def signals(machine, machine_tags) -> dict:
    """The first demo machine's tags by signal name ('motor_temperature', 'state', ...)."""
    return {t.path.rsplit(".", 1)[-1]: t for t in machine_tags}


@pytest.fixture
def no_demo_alarms(demo_plant) -> None:
    """Start from no alarm definitions (the demo plant loads its own)."""
    AlarmDefinition.objects.all().delete()


@pytest.fixture
def define(no_demo_alarms):
    def make(tag, **fields) -> AlarmDefinition:
        fields.setdefault("name", f"{fields.get('kind', 'hi')} alarm")
        fields.setdefault("kind", "hi")
        fields.setdefault("priority", "high")
        fields.setdefault("message", "{machine} {name}: {value} {units} (limit {limit})")
        definition = AlarmDefinition(tag=tag, **fields)
        definition.full_clean()
        definition.save()
        return definition

    return make


def grant(user, *codenames: str):
    """Give `user` these permissions ('view_alarm' for alarms.view_alarm, or 'historian.export_data')."""
    for name in codenames:
        app_label, _, codename = name.rpartition(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label or "alarms", codename=codename)
        )
    return type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw-operator-1")
    return grant(user, "view_alarm", "acknowledge_alarm", "shelve_alarm")


@pytest.fixture
def viewer(django_user_model):
    """May see the alarms, not work them."""
    return grant(django_user_model.objects.create_user("viewer", password="pw-viewer-1"), "view_alarm")


@pytest.fixture
def stranger(django_user_model):
    """Signed in, without any alarm permission."""
    return django_user_model.objects.create_user("stranger", password="pw-stranger-1")
