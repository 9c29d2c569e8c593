"""The health pages in a real browser: the machine health page's score trend, RUL chart and each signal's
contribution drawn by Plotly under the page's Content-Security-Policy, with the training window and the model's
version; both health pages kept live over the page socket (a new score, a re-baseline, a new request)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services.roles import Role
from ingest.pipeline.store import readings_store
from ingest.protocols.base import PointReading
from maintenance.services.fitting import health_model_fit
from maintenance.services.health import health_rebaseline
from maintenance.services.requests import request_open
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


def _store(watched, ingest_context, vibration: float, temperature: float, at) -> None:
    readings_store(
        context=ingest_context,
        device=watched.tags["vibration_rms"].device,
        tags={t.pk: t for t in watched.tags.values()},
        readings=[
            PointReading(watched.tags["vibration_rms"].pk, vibration, 192),
            PointReading(watched.tags["bearing_temperature"].pk, temperature, 192),
            PointReading(watched.tags["motor_current"].pk, 20.0, 192),
        ],
        read_at=at,
    )


def _open_live(url: str):
    """Sign in, open `url`, wait until its socket is live and mark the document (a reload would lose the mark)."""

    def open_page(page) -> list[str]:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        login(page, url, "op1")
        page.wait_for_selector("#link-status[data-state=live]", timeout=15_000)
        page.evaluate("window.notReloaded = true")
        return errors

    return open_page


def test_a_new_score_reaches_the_machine_health_page_without_a_reload(
    live_asgi, watched, ingest_context, browser, settings
):
    settings.MAINTENANCE_SCORE_SECONDS = 0  # score every batch
    model = watched.model(score_high_minutes=60)
    health_model_fit(model=model)
    _store(watched, ingest_context, 2.0, 45.0, timezone.now() - timedelta(seconds=10))
    UserFactory(username="op1", role=Role.OPERATOR)
    errors = browser.run(_open_live(f"{live_asgi.url}/maintenance/machines/{watched.machine.pk}/"))
    before = browser.run(lambda page: page.evaluate("document.getElementById('score-chart').data[0].y.length"))

    _store(watched, ingest_context, 6.0, 60.0, timezone.now())  # the bearing departs from normal

    def updated(page) -> dict:
        page.wait_for_function(
            "parseFloat(document.getElementById('score-now').textContent) > 1", timeout=15_000, polling=100
        )
        return {
            "reloaded": not page.evaluate("window.notReloaded === true"),
            "score": page.inner_text("#score-now"),
            "high": page.get_attribute("#score-now", "class"),
            "explanation": page.inner_text("#explanation-now"),
            "scores": page.evaluate("document.getElementById('score-chart').data[0].y"),
            "bars": page.evaluate("document.getElementById('contribution-chart').data[0].y"),
        }

    seen = browser.run(updated)
    assert errors == []
    assert not seen["reloaded"]
    assert float(seen["score"]) > 1.0
    assert "high" in seen["high"]
    assert "vibration rms +" in seen["explanation"]
    assert len(seen["scores"]) == before + 1
    assert seen["scores"][-1] == pytest.approx(float(seen["score"]), abs=0.01)
    assert seen["bars"][0] in ("vibration rms", "bearing temperature")

    # A re-baseline (a request closed as done) reaches the page too: the model waits for training data.
    health_rebaseline(machine=watched.machine, at=timezone.now(), user=None)
    version = browser.run(
        lambda page: (
            page.wait_for_function(
                "document.getElementById('model-version').textContent === 'not fitted yet'", timeout=15_000
            ),
            page.inner_text("#training-window"),
        )[1]
    )
    assert version.startswith("Waiting for training data")


def test_the_plant_health_overview_shows_new_scores_and_requests_without_a_reload(
    live_asgi, watched, ingest_context, browser, settings
):
    settings.MAINTENANCE_SCORE_SECONDS = 0
    model = watched.model(score_high_minutes=60)
    health_model_fit(model=model)
    UserFactory(username="op1", role=Role.OPERATOR)
    row = f'#plant-health tr[data-machine="{watched.machine.pk}"]'
    errors = browser.run(_open_live(f"{live_asgi.url}/maintenance/"))
    assert browser.run(lambda page: page.inner_text(f"{row} td.score")) == "\u2013"  # fitted, not scored yet

    _store(watched, ingest_context, 6.0, 60.0, timezone.now())
    request_open(machine=watched.machine, component="spindle bearing", title="Vibration", by_monitor=True)

    def updated(page) -> dict:
        page.wait_for_function(
            f"parseFloat(document.querySelector('{row} td.score')?.textContent) > 1", timeout=15_000, polling=100
        )
        page.wait_for_function(f"document.querySelector('{row} td.open')?.textContent === '1'", timeout=15_000)
        return {
            "reloaded": not page.evaluate("window.notReloaded === true"),
            "why": page.inner_text(f"{row} td.why"),
            "rul": page.inner_text(f"{row} td.rul"),
        }

    seen = browser.run(updated)
    assert errors == []
    assert not seen["reloaded"]
    assert "σ" in seen["why"]
    assert seen["rul"] == "no trend"  # one score: no trend yet
