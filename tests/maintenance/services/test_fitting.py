"""Fitting health models on history: proposed and picked windows, versions, the audit, bad input."""

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from maintenance.health.errors import HealthModelError
from maintenance.services.fitting import health_model_fit
from tests.factories import DeviceFactory, TagFactory
from tests.samples import write


def test_a_proposed_window_is_the_first_minutes_of_data_after_the_training_start(watched):
    model = watched.model(auto_train_minutes=20)

    version = health_model_fit(model=model)

    assert version.version == 1
    assert (version.training_start, version.training_end) == (watched.start, watched.start + timedelta(minutes=20))
    assert version.samples == 120  # every 10 s over 20 minutes (the end excluded)
    assert sorted(version.signal_tags) == sorted(watched.tags)
    model.refresh_from_db()
    assert model.current_version == version
    event = AuditEvent.objects.get(action="health_model_fit")
    assert event.details["version"] == 1
    assert event.details["samples"] == 120


def test_each_fit_is_a_new_version_on_the_window_picked(watched):
    model = watched.model()
    health_model_fit(model=model)
    start, end = watched.start + timedelta(minutes=10), watched.start + timedelta(minutes=35)

    version = health_model_fit(model=model, start=start, end=end, reason="retrained")

    assert (version.version, version.training_start, version.training_end) == (2, start, end)
    assert model.versions.count() == 2
    assert AuditEvent.objects.filter(action="health_model_fit").count() == 2


def test_too_little_training_data_says_how_much_there_is(watched):
    model = watched.model(auto_train_minutes=600)
    with pytest.raises(HealthModelError, match=r"too little training data for CNC 102: \d+\.\d of 600\.0 minutes"):
        health_model_fit(model=model)


def test_a_window_without_data_is_too_little_training_data(watched):
    model = watched.model()
    before = watched.start - timedelta(hours=3)
    with pytest.raises(HealthModelError, match="too little training data"):
        health_model_fit(model=model, start=before, end=before + timedelta(minutes=30))


def test_a_flat_signal_is_named(watched):
    flat = TagFactory(machine=watched.machine, device=DeviceFactory(), name="coolant_pressure")
    write(flat, [(watched.start + timedelta(seconds=10 * i), 4.0) for i in range(240)])
    model = watched.model()
    model.signals.add(flat)
    with pytest.raises(HealthModelError, match="coolant_pressure"):
        health_model_fit(model=model)


def test_only_half_a_window_is_refused(watched):
    with pytest.raises(HealthModelError, match="both ends"):
        health_model_fit(model=watched.model(), start=watched.start)
