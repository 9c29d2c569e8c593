"""The machine health page in a real browser: the score trend, the RUL chart and each signal's contribution drawn
by Plotly under the page's Content-Security-Policy, with the training window and the model's version."""

from datetime import timedelta

from django.utils import timezone

from accounts.services.roles import Role
from ingest.pipeline.store import readings_store
from ingest.protocols.base import PointReading
from maintenance.services.fitting import health_model_fit
from tests.browser import BROWSER_TESTS, login, screenshot
from tests.factories import UserFactory

pytestmark = BROWSER_TESTS


def test_the_machine_health_page_draws_its_score_and_contributions(
    live_asgi, watched, ingest_context, browser, settings
):
    settings.MAINTENANCE_SCORE_SECONDS = 0  # score every batch
    model = watched.model(score_high_minutes=60)
    health_model_fit(model=model)
    model.refresh_from_db()
    now = timezone.now()
    for k, vibration in enumerate((2.0, 2.1, 4.5)):
        readings_store(
            context=ingest_context,
            device=watched.tags["vibration_rms"].device,
            tags={t.pk: t for t in watched.tags.values()},
            readings=[
                PointReading(watched.tags["vibration_rms"].pk, vibration, 192),
                PointReading(watched.tags["bearing_temperature"].pk, 45.0 + 6 * k, 192),
                PointReading(watched.tags["motor_current"].pk, 20.0, 192),
            ],
            read_at=now - timedelta(seconds=15 - 5 * k),  # in the past: the page plots up to its own now
        )
    UserFactory(username="op1", role=Role.OPERATOR)
    url = f"{live_asgi.url}/maintenance/machines/{watched.machine.pk}/"

    def open_page(page) -> dict:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        login(page, url, "op1")
        page.wait_for_selector("#contribution-chart .bars path", timeout=15_000)
        page.wait_for_selector("#score-chart .scatterlayer .trace", state="attached", timeout=15_000)
        screenshot(page, "machine-health.png")
        return {
            "errors": errors,
            "window": page.inner_text("#training-window"),
            "model": page.inner_text("#health-model"),
            "bars": page.locator("#contribution-chart .bars path").count(),
            "labels": page.inner_text("#contribution-chart"),
            "scores": page.evaluate("document.getElementById('score-chart').data[0].y"),
        }

    seen = browser.run(open_page)
    assert seen["errors"] == []
    assert "version 1" in seen["model"]
    assert model.training_start.strftime("%Y-%m-%d %H:%M") in seen["window"]
    assert seen["bars"] == 3
    assert "vibration rms" in seen["labels"]
    assert len(seen["scores"]) >= 2  # the first and the last score (the store may compress one between away)
    assert seen["scores"][-1] > 1.0
