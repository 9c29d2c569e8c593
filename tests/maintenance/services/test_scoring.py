"""Scoring as values arrive: values stored through the real ingest store, derived tags, the alert and its request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services.roles import Role
from alarms.models import Alarm
from historian.quality import Quality
from historian.queries.history import current_values
from historian.queries.raw import raw_values
from ingest.pipeline.context import IngestContext
from ingest.pipeline.store import readings_store
from ingest.protocols.base import PointReading
from maintenance.models import HealthModel, MaintenanceRequest, RequestStatus
from maintenance.queries.health import plant_health
from maintenance.services.fitting import health_model_fit
from maintenance.services.requests import request_close
from maintenance.services.scoring import NO_ESTIMATE, HealthScoring
from tests.factories import UserFactory

NORMAL = {"vibration_rms": 2.0, "bearing_temperature": 45.0, "motor_current": 20.0}
WORN = {"vibration_rms": 4.5, "bearing_temperature": 58.0, "motor_current": 21.0}


@pytest.fixture(autouse=True)
def score_every_batch(settings):
    settings.MAINTENANCE_SCORE_SECONDS = 0


def _store(context, watched, values, at):
    device = watched.tags["vibration_rms"].device
    readings_store(
        context=context,
        device=device,
        tags={t.pk: t for t in watched.tags.values()},
        readings=[PointReading(watched.tags[name].pk, value, 192) for name, value in values.items()],
        read_at=at,
    )


def _current(tag) -> object:
    return current_values(tag_ids=[tag.pk])[tag.pk].value


def _fitted(watched, **settings) -> HealthModel:
    model = watched.model(**settings)
    health_model_fit(model=model)
    model.refresh_from_db()
    return model


def test_values_as_they_arrive_become_the_machines_health_score_and_its_explanation(watched, ingest_context):
    model = _fitted(watched, score_high_minutes=60)
    assert any(isinstance(h, HealthScoring) for h in ingest_context.hooks)

    _store(ingest_context, watched, NORMAL, timezone.now())
    normal = _current(model.score_tag)
    _store(ingest_context, watched, WORN, timezone.now() + timedelta(seconds=1))
    worn = _current(model.score_tag)

    assert isinstance(normal, float)
    assert isinstance(worn, float)
    assert normal < 1.0 < worn
    assert str(_current(model.contribution_tag)).startswith("vibration rms +")
    assert MaintenanceRequest.objects.count() == 0  # high, but not for an hour yet


def test_a_high_score_raises_one_explained_alarm_and_opens_one_work_request(watched, ingest_context):
    model = _fitted(watched, score_high_minutes=0, component="spindle bearing")
    now = timezone.now()

    for k in range(3):
        _store(ingest_context, watched, WORN, now + timedelta(seconds=k))

    [request] = MaintenanceRequest.objects.all()
    assert (request.by_monitor, request.component, request.status) == (True, "spindle bearing", RequestStatus.OPEN)
    assert request.evidence["reasons"][0].startswith("health score")
    assert "vibration rms +" in request.evidence["explanation"]
    assert request.evidence["contributions"][0]["signal"] == "vibration_rms"
    assert request.evidence["score"] > 1.0
    alarm = Alarm.objects.get(definition__tag=model.alert_tag)
    assert alarm.state == "unack_active"
    assert alarm.message.startswith("CNC 102: spindle bearing maintenance due, health score ")
    assert "vibration rms +" in alarm.message
    assert _current(model.alert_tag) == 1.0


def test_closing_the_request_re_baselines_the_model(watched, ingest_context):
    model = _fitted(watched, score_high_minutes=0)
    _store(ingest_context, watched, WORN, timezone.now())
    [request] = MaintenanceRequest.objects.all()

    request_close(request_id=request.pk, user=UserFactory(role=Role.ENGINEER), note="New bearing")

    model.refresh_from_db()
    request.refresh_from_db()
    assert (model.current_version, model.alerted_at, model.training_end) == (None, None, None)
    assert model.training_start == request.closed_at
    assert model.versions.count() == 1  # fitted again once there is normal running after the maintenance


def test_a_re_baseline_stores_no_estimate_in_the_rul_tags_so_the_pages_show_no_prediction(watched, ingest_context):
    model = _fitted(watched, score_high_minutes=0)
    rul_tags = [model.rul_median_tag, model.rul_low_tag, model.rul_high_tag]
    before = timezone.now()
    # The last life's prediction, as the scoring hook stores it: through the normal store of the derived device.
    readings_store(
        context=ingest_context,
        device=model.score_tag.device,
        tags={t.pk: t for t in rul_tags},
        readings=[PointReading(t.pk, value, Quality.GOOD) for t, value in zip(rul_tags, (6.5, 4.1, 9.8), strict=True)],
        read_at=before,
    )
    [row] = plant_health(machine_ids=[watched.machine.pk])
    assert (row.rul_median_h, row.rul_low_h, row.rul_high_h) == (6.5, 4.1, 9.8)
    _store(ingest_context, watched, WORN, before + timedelta(seconds=1))
    [request] = MaintenanceRequest.objects.all()

    request_close(request_id=request.pk, user=UserFactory(role=Role.ENGINEER), note="New bearing")

    request.refresh_from_db()
    current = current_values(tag_ids=[t.pk for t in rul_tags])
    for tag in rul_tags:
        assert current[tag.pk].value is None
        assert current[tag.pk].quality == NO_ESTIMATE != Quality.GOOD
        assert current[tag.pk].time == request.closed_at
    [row] = plant_health(machine_ids=[watched.machine.pk])
    assert (row.rul_median_h, row.rul_low_h, row.rul_high_h) == (None, None, None)
    # Historized: the trend of the RUL ends at the maintenance with a point of no value.
    history = raw_values(tag_ids=[model.rul_median_tag.pk], start=before, end=timezone.now() + timedelta(minutes=1))
    assert [(p.value, p.quality) for p in history[model.rul_median_tag.pk].points] == [
        (6.5, Quality.GOOD),
        (None, NO_ESTIMATE),
    ]


def test_a_writer_that_stores_only_some_signals_scores_from_the_current_values_of_all(watched, ingest_context):
    model = _fitted(watched, score_high_minutes=60)
    other = IngestContext(hooks=[])  # another writer (another poller) stores the vibration, unscored here
    at = timezone.now()
    vibration = watched.tags["vibration_rms"]
    readings_store(
        context=other,
        device=vibration.device,
        tags={vibration.pk: vibration},
        readings=[PointReading(vibration.pk, WORN["vibration_rms"], Quality.GOOD)],
        read_at=at,
    )
    rest = {k: v for k, v in NORMAL.items() if k != "vibration_rms"}
    _store(ingest_context, watched, rest, at + timedelta(seconds=1))

    # The worn vibration another writer stored counts: it is read from the current values, not missing.
    assert str(_current(model.contribution_tag)).startswith("vibration rms +")
    worn = _current(model.score_tag)
    assert isinstance(worn, float)
    assert worn > 1.0


def test_a_bad_reading_in_the_batch_is_missing_and_reconstructed_not_scored_as_is(watched, ingest_context):
    model = _fitted(watched, score_high_minutes=60)
    at = timezone.now()
    _store(ingest_context, watched, NORMAL, at)
    device = watched.tags["vibration_rms"].device
    readings_store(
        context=ingest_context,
        device=device,
        tags={t.pk: t for t in watched.tags.values()},
        readings=[
            PointReading(watched.tags["vibration_rms"].pk, None, Quality.BAD_SENSOR_FAILURE),
            PointReading(watched.tags["bearing_temperature"].pk, NORMAL["bearing_temperature"], Quality.GOOD),
            PointReading(watched.tags["motor_current"].pk, NORMAL["motor_current"], Quality.GOOD),
        ],
        read_at=at + timedelta(seconds=1),
    )
    score = _current(model.score_tag)
    assert isinstance(score, float)
    assert score < 1.0


def test_a_model_not_fitted_yet_scores_nothing_and_says_why_in_the_log(watched, ingest_context, caplog):
    model = watched.model(auto_train_minutes=600)
    _store(ingest_context, watched, NORMAL, timezone.now())
    assert model.score_tag is not None
    assert current_values(tag_ids=[model.score_tag.pk]).get(model.score_tag.pk) is None
    assert "too little training data for CNC 102" in caplog.text
