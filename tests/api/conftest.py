"""A small plant with history, users holding each role, and an engineer's API token."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.test import Client

from accounts.services.roles import Role
from api.services.tokens import api_token_create
from historian.models import Line, Machine, Site, Tag
from tests.factories import DeviceFactory, LineFactory, MachineFactory, ScanClassFactory, TagFactory

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@dataclass
class Plant:
    site: Site
    line: Line
    press: Machine
    oven: Machine
    temperature: Tag
    pressure: Tag
    speed: Tag
    oven_temperature: Tag


@pytest.fixture
def plant(db) -> Plant:
    line = LineFactory(name="Line 1", area__name="Forming", area__site__name="Works")
    press = MachineFactory(line=line, name="Press")
    oven = MachineFactory(line=line, name="Oven")
    device = DeviceFactory(name="PLC 1", password="plc-secret")
    scan = ScanClassFactory(name="1 s", period_ms=1000)

    def tag(machine: Machine, name: str, units: str, address: str) -> Tag:
        return TagFactory(
            name=name,
            machine=machine,
            device=device,
            scan_class=scan,
            address=address,
            units=units,
            description=f"{name} of the {machine.name.lower()}",
        )

    return Plant(
        site=line.area.site,
        line=line,
        press=press,
        oven=oven,
        temperature=tag(press, "temperature", "°C", "HR0"),
        pressure=tag(press, "pressure", "bar", "HR2"),
        speed=tag(press, "speed", "rpm", "HR4"),
        oven_temperature=tag(oven, "temperature", "°C", "HR6"),
    )


@pytest.fixture
def engineer(make_user):
    return make_user("engineer", role=Role.ENGINEER)


@pytest.fixture
def operator(make_user):
    return make_user("operator", role=Role.OPERATOR)


@pytest.fixture
def token(engineer) -> str:
    return api_token_create(user=engineer, name="report script")[1]


@pytest.fixture
def api(token) -> Client:
    """A client that authenticates with the engineer's token (no session)."""
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def api_as() -> Callable[..., Client]:
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


# The engineered night shift of the production tests (tests/api/test_production.py).
from tests.production import conftest as _production  # noqa: E402

line = _production.line
night = _production.night
