import json

from accounts.services.roles import Role


def test_the_explorer_page_is_for_those_who_may_use_it(client, make_user):
    client.force_login(make_user("operator", role=Role.OPERATOR))
    assert client.get("/explorer/").status_code == 403

    client.force_login(make_user("engineer", role=Role.ENGINEER))
    response = client.get("/explorer/")

    assert response.status_code == 200
    page = response.content.decode()
    config = json.loads(page.split('<script id="explorer-config" type="application/json">')[1].split("</script>")[0])
    assert config["urls"]["plot"] == "/api/v1/history/plot/"
    assert "vendor/plotly.min.js" in page
    assert 'href="/explorer/"' in page


def test_the_explorer_needs_a_login(client, db):
    response = client.get("/explorer/?tags=1")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
