"""The plant's time zone: the sites' when they agree, the server's otherwise; a site's change is seen at once."""

from django.test import override_settings

from historian.queries.time_zone import plant_time_zone
from tests.factories import SiteFactory


@override_settings(TIME_ZONE="UTC")
def test_the_plant_zone_is_the_sites_when_they_agree_else_the_servers(db):
    assert plant_time_zone() == "UTC"  # no site
    berlin = SiteFactory(name="Werk Nord", timezone="Europe/Berlin")
    assert plant_time_zone() == "Europe/Berlin"
    SiteFactory(name="Werk Süd", timezone="Europe/Berlin")
    assert plant_time_zone() == "Europe/Berlin"
    chicago = SiteFactory(name="Plant West", timezone="America/Chicago")
    assert plant_time_zone() == "UTC"  # no single zone is the plant's
    chicago.delete()
    assert plant_time_zone() == "Europe/Berlin"
    berlin.timezone = "Mars/Olympus"  # not an IANA name: no zone of its own
    berlin.save()
    assert plant_time_zone() == "UTC"
