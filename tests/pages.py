"""Every page of the plant floor, on a small live plant, for the browser tests that go over all of them (tablet and
phone layouts, accessibility): the demo plant (1 line, 2 machines) polled from its simulator, its production
configuration, an active unacknowledged alarm, and an administrator who may open every page."""

from dataclasses import dataclass

import pytest
from django.urls import reverse

from accounts.services.roles import Role
from alarms.models import Alarm, AlarmDefinition
from demo.production import demo_production_load
from historian.models import Line, Machine, Site
from historian.queries.history import current_values
from ingest.acquisition.poll import device_poll
from tests.factories import UserFactory
from tests.waiting import wait_until

USERNAME = "admin1"


@dataclass(frozen=True)
class PlantPages:
    url: str  # the live server
    alarm: Alarm  # active, unacknowledged: CNC 101's motor temperature HiHi
    second_alarm: Alarm  # the same on CNC 102
    paths: dict[str, str]  # page name -> path, signed in
    login_path: str


def _hot_alarm(polling, device, scan_class, plant_server, machine: int) -> Alarm:
    """Heat a machine's motor past HiHi (not to the trip) and poll until the alarm is active."""
    hihi = AlarmDefinition.objects.get(tag__path__endswith=f"CNC 10{machine + 1}.motor_temperature", kind="hihi")
    plant_server.plant.machine(0, machine).motor_temp = 93.5

    def alarm_active() -> bool:
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
        return current_values(tag_ids=[hihi.tag_id])[hihi.tag_id].value > 92

    wait_until(alarm_active, timeout=15, what="a poll reading the hot value from the simulator", interval=0.1)
    wait_until(
        lambda: Alarm.objects.filter(pk=hihi.pk, state="unack_active").exists(), timeout=10, what="the HiHi alarm"
    )
    return Alarm.objects.get(pk=hihi.pk)


@pytest.fixture
def plant_pages(polling, live_asgi, device, scan_class, plant_server) -> PlantPages:
    demo_production_load(site=Site.objects.get())
    UserFactory(username=USERNAME, role=Role.ADMINISTRATOR)
    alarm = _hot_alarm(polling, device, scan_class, plant_server, 0)
    second_alarm = _hot_alarm(polling, device, scan_class, plant_server, 1)
    for _ in range(3):  # a few more values: trends and state intervals to draw
        device_poll(polling=polling, device_id=device.pk, scan_class_id=scan_class.pk)
    machine, line = Machine.objects.order_by("pk").first(), Line.objects.get()
    assert machine is not None
    paths = {
        "overview": reverse("dashboards:plant_overview"),
        "machine": reverse("dashboards:machine", kwargs={"machine_id": machine.pk}),
        "explorer": reverse("dashboards:explorer"),
        "wall screen": reverse("dashboards:kiosk"),
        "alarm list": reverse("alarms:list"),
        "alarm detail": reverse("alarms:detail", kwargs={"alarm_id": alarm.pk}),
        "alarm history": reverse("alarms:history"),
        "alarm performance": reverse("alarms:kpi"),
        "downtime": reverse("production:line_downtime", kwargs={"line_id": line.pk}),
        "timeline": reverse("production:machine_timeline", kwargs={"machine_id": machine.pk}),
        "oee": reverse("production:line_oee", kwargs={"line_id": line.pk}),
        "pareto": reverse("production:line_pareto", kwargs={"line_id": line.pk}),
        "reports": reverse("production:line_reports", kwargs={"line_id": line.pk}),
        "inventory": reverse("inventory:assets"),
        "api tokens": reverse("tokens:list"),
    }
    return PlantPages(
        url=live_asgi.url, alarm=alarm, second_alarm=second_alarm, paths=paths, login_path=reverse("login")
    )


def sign_in(page, pages: PlantPages) -> None:
    page.goto(pages.url + pages.login_path)
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", f"pw-{USERNAME}-1")
    page.click("button[type=submit]")
    page.wait_for_url(pages.url + "/")


def settle(page) -> None:
    """Wait until the page has loaded and drawn what it fetches on opening (its scripts and charts; a page with a
    live stream is never idle, so a short pause after the load rather than "network idle")."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(800)
