"""The header's theme switch: a form post that remembers the choice and renders the next page in it."""

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
