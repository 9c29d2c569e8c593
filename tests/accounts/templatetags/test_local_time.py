"""`|when`: an instant in the page's time zone, in the language's format, always labelled with the zone."""

import zoneinfo
from datetime import UTC, datetime

from django.template import Context, Template
from django.utils import timezone, translation

INSTANT = datetime(2026, 12, 7, 13, 5, 9, tzinfo=UTC)


def _render(source: str, zone: str, language: str) -> str:
    with translation.override(language), timezone.override(zoneinfo.ZoneInfo(zone)):
        return Template("{% load local_time %}" + source).render(Context({"at": INSTANT, "none": None}))


def test_an_instant_is_shown_in_the_active_zone_with_its_abbreviation_in_the_languages_format():
    assert _render("{{ at|when }}", "Europe/Berlin", "en") == "2026-12-07 14:05 CET"
    assert _render("{{ at|when }}", "Europe/Berlin", "de") == "07.12.2026 14:05 CET"
    assert _render('{{ at|when:"seconds" }}', "America/Chicago", "en") == "2026-12-07 07:05:09 CST"
    assert _render("{{ at|when }}", "UTC", "en") == "2026-12-07 13:05 UTC"


def test_summer_time_changes_the_label_and_nothing_passes_as_empty():
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        text = Template("{% load local_time %}{{ at|when }}").render(Context({"at": summer}))
    assert text == "2026-07-01 14:00 CEST"
    assert _render('{{ none|when|default:"never" }}', "UTC", "en") == "never"
