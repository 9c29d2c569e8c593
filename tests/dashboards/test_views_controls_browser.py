"""The machine page's operator controls in Chromium against the real Modbus plant simulator: a setpoint written
with arm-then-confirm (a countdown on the confirm button), the read-back value shown on the page, the write in the
last writes; an operator of another area sees no controls."""

import pytest
from django.contrib.auth.models import Group

from accounts.services.roles import Role
from historian.models import Area, ConfirmationMode, OperateArea, WritePolicy
from ingest.services.writes import device_writes_set
from tests.browser import BROWSER_TESTS, login, screenshot

pytestmark = BROWSER_TESTS


@pytest.fixture
def sim_machine(plant_server, machine):
    line, number = machine.name.removeprefix("CNC ")[0], int(machine.name[-2:])
    return next(m for m in plant_server.plant.all_machines() if m.name == f"L{line}-M{number}")


def test_an_operator_writes_a_setpoint_with_confirmation_and_sees_the_read_back(
    live_asgi, browser, make_user, machine, device, sim_machine
):
    device_writes_set(device=device, enabled=True, user=make_user("admin", role=Role.ADMINISTRATOR))
    setpoint = machine.tags.get(path__endswith=".speed_setpoint")
    WritePolicy.objects.create(
        tag=setpoint, min_value=0, max_value=3600, confirmation=ConfirmationMode.ARM, confirm_within_seconds=60
    )
    operator = make_user("operator")
    group = Group.objects.create(name="Machining operators")
    operator.groups.add(group)
    OperateArea.objects.create(area=machine.line.area, group=group)

    def write_setpoint(page) -> dict:
        login(page, f"{live_asgi.url}/machines/{machine.pk}/", "operator")
        page.wait_for_url(f"**/machines/{machine.pk}/")
        card = page.locator(f'[data-control="{setpoint.pk}"]')
        card.wait_for(timeout=10_000)
        seen = {"range": card.locator(".control-range").inner_text()}
        page.locator('#link-status[data-state="live"]').wait_for(timeout=10_000, state="attached")
        card.locator("input").fill("1234")
        card.locator("button.write").click()
        confirm = card.locator("button.confirm")
        confirm.wait_for(timeout=10_000)
        seen["confirm"] = confirm.inner_text()
        seen["button_height"] = confirm.bounding_box()["height"]
        confirm.click()
        card.locator(".control-status.state-confirmed").wait_for(timeout=15_000)
        seen["status"] = card.locator(".control-status").inner_text()
        page.locator("#controls-writes li.state-confirmed").first.wait_for(timeout=10_000)
        seen["listed"] = page.locator("#controls-writes li").first.inner_text()
        screenshot(page, "machine-controls.png")
        return seen

    seen = browser.run(write_setpoint)

    assert "Range 0 \u2013 3600 rpm" in seen["range"]
    assert seen["confirm"].startswith("Confirm (")
    assert seen["button_height"] >= 44
    assert "1234" in seen["status"]
    assert "1234" in seen["listed"]
    assert sim_machine.operator_setpoint == pytest.approx(1234.0)


def test_an_operator_of_another_area_sees_no_controls(live_asgi, browser, make_user, machine):
    setpoint = machine.tags.get(path__endswith=".speed_setpoint")
    WritePolicy.objects.create(tag=setpoint, min_value=0, max_value=3600)
    operator = make_user("operator")
    OperateArea.objects.create(area=Area.objects.create(site=machine.line.area.site, name="Assembly"), user=operator)

    def controls(page) -> int:
        login(page, f"{live_asgi.url}/machines/{machine.pk}/", "operator")
        page.wait_for_url(f"**/machines/{machine.pk}/")
        page.locator("#trend").wait_for(timeout=10_000)
        return page.locator("#controls").count()

    assert browser.run(controls) == 0
