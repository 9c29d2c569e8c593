"""String tags on the plant pages: their text is a current value, never a trend line."""

import json

import pytest
from django.utils import timezone

from historian.models import Tag
from historian.quality import Quality
from historian.queries.plant import machine_trend_tags
from historian.sample_types import TextSampleRow
from historian.services.text_samples import text_samples_write_batch


@pytest.fixture
def operator_client(client, make_user):
    client.force_login(make_user("operator"))
    return client


@pytest.fixture
def program(program) -> Tag:
    """The demo string tag (tests/conftest.py) with one text."""
    text_samples_write_batch(rows=[TextSampleRow(timezone.now(), program.pk, "PRG <4711>", Quality.GOOD)])
    return program


def _json_script(html: str, element_id: str):
    start = html.index(f'id="{element_id}"')
    return json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])


def test_the_machine_page_carries_a_string_tags_text_and_leaves_it_off_the_trend(operator_client, machine, program):
    html = operator_client.get(f"/machines/{machine.pk}/").content.decode()

    tags = {t["id"]: t for t in _json_script(html, "machine-data")["tags"]}
    assert (tags[program.pk]["data_type"], tags[program.pk]["value"]) == ("string", "PRG <4711>")
    assert program.pk not in _json_script(html, "trend-config")["tags"]
    assert "<4711>" not in html  # the text reaches the page escaped, as data, never as markup


def test_string_tags_are_not_trend_tags(machine, program):
    assert program.pk not in [t.pk for t in machine_trend_tags(machine_id=machine.pk)]
    assert machine_trend_tags(machine_id=machine.pk)  # the analog key tags still are


def test_the_overview_card_carries_a_key_string_tags_text(operator_client, machine, program):
    html = operator_client.get("/").content.decode()
    machines = {m["id"]: m for m in _json_script(html, "machines-data")}
    [shown] = [t for t in machines[machine.pk]["tags"] if t["id"] == program.pk]
    assert shown["value"] == "PRG <4711>"
