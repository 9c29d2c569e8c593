"""historian/models/value_labels.py: value label sets, their validation, and a tag's label of a value."""

import pytest
from django.core.exceptions import ValidationError

from historian.models import ValueLabel, ValueLabelSet
from tests.factories import TagFactory


@pytest.fixture
def states(db):
    label_set = ValueLabelSet.objects.create(name="Machine state")
    ValueLabel.objects.create(set=label_set, value=0, label="Idle", colour="#9e9e9e")
    ValueLabel.objects.create(set=label_set, value=1, label="Running", colour="#2E7D32")
    return label_set


def test_a_value_twice_in_one_set_is_refused(states):
    with pytest.raises(ValidationError) as excinfo:
        ValueLabel(set=states, value=1, label="Running again").full_clean()
    assert "This set already has a label for this value." in str(excinfo.value)
    # Another set may use the value.
    ValueLabel(set=ValueLabelSet.objects.create(name="Other"), value=1, label="On").full_clean()


@pytest.mark.parametrize("colour", ["green", "#2e7d3", "#2e7d32 ", "#gggggg", "2e7d32", "#2e7d32\n"])
def test_a_colour_that_is_not_rrggbb_is_refused(states, colour):
    with pytest.raises(ValidationError) as excinfo:
        ValueLabel(set=states, value=2, label="Down", colour=colour).full_clean()
    assert "A colour is written #rrggbb, e.g. #2e7d32." in excinfo.value.message_dict["colour"]


def test_a_tag_labels_its_whole_values_from_its_set(states):
    tag = TagFactory(value_labels=states, data_type="uint16")
    assert tag.is_discrete
    assert [tag.value_label(v) for v in (0, 1.0, True, 2, 0.5, None, float("nan"), "text")] == [
        "Idle",
        "Running",
        "Running",
        None,
        None,
        None,
        None,
        None,
    ]
    assert TagFactory().value_label(1) is None
    assert states.as_json() == {
        "0": {"label": "Idle", "colour": "#9e9e9e"},
        "1": {"label": "Running", "colour": "#2E7D32"},
    }


def test_the_admin_edits_a_set_with_its_entries_inline_and_refuses_a_repeated_value(admin_client):
    form = {
        "name": "Valve",
        "description": "",
        "entries-TOTAL_FORMS": "2",
        "entries-INITIAL_FORMS": "0",
        "entries-0-value": "0",
        "entries-0-label": "Closed",
        "entries-0-colour": "#2e7d32",
        "entries-1-value": "0",
        "entries-1-label": "Open",
        "entries-1-colour": "",
    }
    response = admin_client.post("/admin/historian/valuelabelset/add/", form)
    assert response.status_code == 200
    assert not ValueLabelSet.objects.exists()
    assert "Please correct the duplicate data for value." in response.content.decode()

    form["entries-1-value"] = "1"
    response = admin_client.post("/admin/historian/valuelabelset/add/", form)
    assert response.status_code == 302
    label_set = ValueLabelSet.objects.get(name="Valve")
    assert {v: e.label for v, e in label_set.by_value().items()} == {0: "Closed", 1: "Open"}
