"""Test data: factory_boy factories for the plant model, the asset inventory and users holding a role.

Each factory builds a valid, saved row with unique names; a test sets only the fields its behaviour depends on,
e.g. `TagFactory(machine=press, data_type=DataType.BOOL)` or `UserFactory(username="olga", role=Role.ENGINEER)`.
"""

from datetime import UTC, datetime, timedelta

import factory
from django.contrib.auth import get_user_model
from factory.declarations import PostGenerationDeclaration
from factory.django import DjangoModelFactory

from accounts.services.roles import Role, user_role_assign
from historian.models import Area, Device, Line, Machine, ScanClass, Site, Tag
from inventory.models import Asset, AssetChange

#: When the factories' assets were first seen and changed, unless a test says otherwise.
SEEN = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


class SiteFactory(DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Site {n}")


class AreaFactory(DjangoModelFactory):
    class Meta:
        model = Area

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Area {n}")


class LineFactory(DjangoModelFactory):
    class Meta:
        model = Line

    area = factory.SubFactory(AreaFactory)
    name = factory.Sequence(lambda n: f"Line {n}")


class MachineFactory(DjangoModelFactory):
    class Meta:
        model = Machine

    line = factory.SubFactory(LineFactory)
    name = factory.Sequence(lambda n: f"Machine {n}")


class DeviceFactory(DjangoModelFactory):
    """A Modbus TCP device on loopback (nothing listens unless the test starts a server there)."""

    class Meta:
        model = Device

    name = factory.Sequence(lambda n: f"PLC {n}")
    host = "127.0.0.1"


class ScanClassFactory(DjangoModelFactory):
    class Meta:
        model = ScanClass
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Scan {n}")
    period_ms = 1000


class TagFactory(DjangoModelFactory):
    """A float32 holding register tag; its path follows the Site/Area/Line/Machine.name convention."""

    class Meta:
        model = Tag

    machine = factory.SubFactory(MachineFactory)
    device = factory.SubFactory(DeviceFactory)
    scan_class = factory.SubFactory(ScanClassFactory)
    name = factory.Sequence(lambda n: f"t{n}")
    path = factory.LazyAttribute(
        lambda o: (
            f"{o.machine.line.area.site.name}/{o.machine.line.area.name}/{o.machine.line.name}/"
            f"{o.machine.name}.{o.name}"
        )
    )
    address = factory.Sequence(lambda n: f"HR{2 * n}")


class _RoleAssigned(PostGenerationDeclaration):
    """After the user is saved, give it `role` (user_role_assign): the value passed, else the default."""

    def __init__(self, default: Role | None) -> None:
        super().__init__()
        self.default = default

    def call(self, instance, step, context) -> None:
        if step.builder.strategy == factory.enums.CREATE_STRATEGY:
            user_role_assign(user=instance, role=context.value if context.value_provided else self.default)


class UserFactory(DjangoModelFactory):
    """A user holding one role (default: operator; `role=None`: none), password `pw-<username>-1` unless given.

    `superuser=True` makes a superuser, who holds every permission without a role.
    """

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True  # user_role_assign saves what it changes

    class Params:
        superuser = factory.Trait(is_superuser=True, is_staff=True, role=None)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(factory.LazyAttribute(lambda o: f"pw-{o.username}-1"))
    role = _RoleAssigned(default=Role.OPERATOR)


class AssetFactory(DjangoModelFactory):
    """A Modbus PLC seen on the network (no device configured for it unless given)."""

    class Meta:
        model = Asset

    protocol = "modbus"
    key = factory.Sequence(lambda n: f"10.0.{n // 250}.{n % 250 + 1}:502/1")
    first_seen = SEEN
    last_seen = SEEN


class AssetChangeFactory(DjangoModelFactory):
    """One observed change of an asset, one minute after the previous one of the sequence."""

    class Meta:
        model = AssetChange

    asset = factory.SubFactory(AssetFactory)
    at = factory.Sequence(lambda n: SEEN.replace(minute=0) + timedelta(minutes=n))
    field = "identity.Firmware"
    before = factory.Sequence(str)
    after = factory.Sequence(lambda n: str(n + 1))
