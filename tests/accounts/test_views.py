"""The header's switches: theme, language and time zone, each a form post that remembers the choice."""

from django.urls import reverse


def test_the_theme_switch_renders_every_next_page_in_the_chosen_theme(client, make_user):
    client.force_login(make_user("ann"))
    page = client.get(reverse("dashboards:plant_overview"))
    assert b'<html lang="en" data-theme="dark"' in page.content
    assert b'name="theme" value="light"' in page.content  # the switch offers the other theme

    response = client.post(reverse("theme_set"), {"theme": "light", "next": "/alarms/"})
    assert (response.status_code, response["Location"]) == (302, "/alarms/")
    page = client.get(reverse("alarms:list"))
    assert b'<html lang="en" data-theme="light"' in page.content
    assert b'name="theme" value="dark"' in page.content


def test_the_theme_switch_refuses_unknown_themes_and_foreign_return_addresses(client, make_user):
    client.force_login(make_user("ann"))
    assert client.post(reverse("theme_set"), {"theme": "neon"}).status_code == 400
    response = client.post(reverse("theme_set"), {"theme": "light", "next": "https://evil.example/"})
    assert response["Location"] == reverse("dashboards:plant_overview")
    assert client.get(reverse("theme_set")).status_code == 405  # a post only


def test_signed_out_pages_are_dark(client):
    assert b'data-theme="dark"' in client.get(reverse("login")).content


def test_the_language_switch_renders_the_next_pages_in_german_and_remembers_it_per_user(client, make_user):
    from accounts.services.preferences import user_locale

    user = make_user("ann")
    client.force_login(user)
    page = client.get(reverse("alarms:list")).content.decode()
    assert '<html lang="en"' in page
    assert "<h1>Alarms" in page
    assert 'name="language" value="de"' in page  # the switch offers German, named in German
    response = client.post(reverse("language_set"), {"language": "de", "next": "/alarms/"})
    assert (response.status_code, response["Location"]) == (302, "/alarms/")
    assert response.cookies["django_language"].value == "de"  # the sign-in page after signing out speaks it too
    page = client.get(reverse("alarms:list")).content.decode()
    assert '<html lang="de"' in page
    assert "<h1>Alarme" in page
    assert "Ausgewählte quittieren" in page
    assert 'name="language" value="en"' in page
    assert user_locale(user=user) == ("de", "")
    # Another browser, asking for English: the user's choice wins once they sign in.
    other = type(client)(HTTP_ACCEPT_LANGUAGE="en")
    other.force_login(user)
    assert "<h1>Alarme" in other.get(reverse("alarms:list")).content.decode()


def test_without_a_choice_the_browsers_language_is_used_and_bad_choices_are_refused(client, make_user):
    client.force_login(make_user("ann"))
    page = client.get(reverse("dashboards:plant_overview"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    assert '<html lang="de"' in page.content.decode()
    assert "Anlage" in page.content.decode()
    assert client.post(reverse("language_set"), {"language": "tlh"}).status_code == 400
    assert client.post(reverse("time_zone_set"), {"time_zone": "../../etc/passwd"}).status_code == 400
    assert client.post(reverse("time_zone_set"), {"time_zone": "Mars/Olympus"}).status_code == 400
    signed_out = type(client)()
    assert '<html lang="de"' in signed_out.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="de").content.decode()


def test_times_are_the_plants_by_default_the_users_on_request_and_always_labelled(client, make_user):
    from alarms.models import AlarmDefinition
    from tests.factories import SiteFactory, TagFactory

    site = SiteFactory(name="Werk Nord", timezone="Europe/Berlin")
    tag = TagFactory(machine__line__area__site=site)
    AlarmDefinition.objects.create(tag=tag, name="Hot", kind="hi", limit=80.0, priority="high")
    client.force_login(make_user("ann"))
    page = client.get(reverse("alarms:list")).content.decode()
    assert 'data-time-zone="Europe/Berlin"' in page
    assert 'id="time-zone-label">CET</span> plant time' in page  # December: CET
    response = client.post(reverse("time_zone_set"), {"time_zone": "America/Chicago", "next": "/alarms/"})
    assert response.status_code == 302
    page = client.get(reverse("alarms:list")).content.decode()
    assert 'data-time-zone="America/Chicago"' in page
    assert 'id="time-zone-label">CST</span> your time' in page
    client.post(reverse("time_zone_set"), {"time_zone": ""})  # back to the plant's
    assert 'data-time-zone="Europe/Berlin"' in client.get(reverse("alarms:list")).content.decode()
