"""The health stream of the page socket (maintenance/consumers.py) over the real Redis channel layer, fed by the
services' pushes (maintenance/services/live.py)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from dashboards.consumers import PageConsumer
from maintenance.services.fitting import health_model_fit
from maintenance.services.requests import request_open
from maintenance.services.scoring import HealthScoring

pytestmark = pytest.mark.django_db(transaction=True)


async def _open(user) -> WebsocketCommunicator:
    page = WebsocketCommunicator(PageConsumer.as_asgi(), "/ws/page/")
    page.scope["user"] = user
    assert (await page.connect())[0]
    return page


async def _next(page: WebsocketCommunicator, kind: str) -> dict:
    while True:
        message = await page.receive_json_from(timeout=10)
        if message["type"] == kind:
            return message


@pytest.fixture
def fitted(watched):
    model = watched.model()
    health_model_fit(model=model)  # sets model.current_version: read in the async tests, no query
    return model


async def test_a_subscriber_gets_the_snapshot_then_each_score_and_request_as_it_happens(
    fitted, watched, make_user, settings
):
    settings.MAINTENANCE_SCORE_SECONDS = 0
    page = await _open(await database_sync_to_async(make_user)("operator"))
    await page.send_json_to({"action": "health_subscribe"})
    snapshot = await _next(page, "health_snapshot")
    (machine,) = snapshot["machines"]
    assert machine["machine"] == watched.machine.pk
    assert machine["model_version"] == 1
    assert machine["training_window"] == [
        round(fitted.current_version.training_start.timestamp() * 1000),
        round(fitted.current_version.training_end.timestamp() * 1000),
    ]
    assert machine["open_requests"] == 0
    assert machine["score"] is None  # not scored yet

    at = timezone.now()
    score = await database_sync_to_async(HealthScoring().score)(model_id=fitted.pk, at=at)
    pushed = await _next(page, "health")
    assert pushed["machine"] == watched.machine.pk
    assert pushed["at"] == round(at.timestamp() * 1000)
    assert pushed["score"] == pytest.approx(score, abs=1e-4)
    assert {c["signal"] for c in pushed["contributions"]} == {"vibration_rms", "bearing_temperature", "motor_current"}
    assert "σ" in pushed["explanation"]

    await database_sync_to_async(request_open)(
        machine=watched.machine, component="spindle bearing", title="Check", by_monitor=True
    )
    model = await _next(page, "health")
    assert (model["machine"], model["open_requests"], model["model_version"]) == (watched.machine.pk, 1, 1)
    await page.disconnect()


def _alarms_only(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("alarms_only", password="pw-alarms_only-1")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="alarms", codename="view_alarm"))
    return django_user_model.objects.get(pk=user.pk)


async def test_a_user_who_may_not_view_the_plant_gets_no_health(watched, django_user_model):
    alarms_only = await database_sync_to_async(_alarms_only)(django_user_model)
    page = await _open(alarms_only)
    await page.send_json_to({"action": "health_subscribe"})
    error = await _next(page, "error")
    assert error["stream"] == "health"
    assert "may not view" in error["message"]
    await page.disconnect()
