"""A session's WebSockets end with the session (issue 12.4), over a real uvicorn server and the Redis layer.

Signing out through the real logout view closes the session's open sockets with 4401; a socket opened with an
expired session is accepted, then closed with 4401 (a refused handshake is a bare HTTP 403 the page cannot read).
"""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts.services.sessions import CLOSE_UNAUTHENTICATED

ROUTES = ["/ws/page/", "/ws/live/", "/ws/alarms/"]


def _signed_in(make_user) -> tuple[Client, str]:
    client = Client()
    client.force_login(make_user("operator"))
    return client, client.cookies[settings.SESSION_COOKIE_NAME].value


def _socket(live_asgi, route: str, cookie: str):
    return connect(
        f"ws://127.0.0.1:{live_asgi.port}{route}",
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
        origin=live_asgi.url,
        open_timeout=10,
    )


def _close_code(websocket, *, timeout: float) -> int | None:
    """Read until the server closes (its close code) or `timeout` passes with the socket still open (None)."""
    try:
        while True:
            websocket.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None


@pytest.mark.parametrize("route", ROUTES)
def test_logging_out_closes_the_sessions_open_sockets_with_4401(live_asgi, demo_plant, make_user, route):
    client, cookie = _signed_in(make_user)
    with _socket(live_asgi, route, cookie) as websocket:
        if route != "/ws/alarms/":
            websocket.send(json.dumps({"action": "subscribe", "machines": [1]}))
        assert json.loads(websocket.recv(timeout=5))["type"] in {"counts", "subscribed"}  # streaming

        response = client.post(reverse("logout"))  # the real logout view, as the Sign out button posts it

        assert response.status_code == 302
        assert _close_code(websocket, timeout=4) == CLOSE_UNAUTHENTICATED


def test_logging_out_leaves_the_users_other_sessions_streaming(live_asgi, demo_plant, make_user, django_user_model):
    """Sockets are grouped per session, not per user: signing out at one panel leaves the user's other panel."""
    client, _cookie = _signed_in(make_user)
    other = Client()
    other.force_login(django_user_model.objects.get(username="operator"))
    other_cookie = other.cookies[settings.SESSION_COOKIE_NAME].value
    with _socket(live_asgi, "/ws/page/", other_cookie) as websocket:
        assert json.loads(websocket.recv(timeout=5))["type"] == "counts"
        client.post(reverse("logout"))
        websocket.send(json.dumps({"action": "snapshot"}))
        assert json.loads(websocket.recv(timeout=5))["type"] == "snapshot"


@pytest.mark.parametrize("route", ROUTES)
def test_a_socket_with_an_expired_session_is_accepted_then_closed_with_4401(live_asgi, demo_plant, make_user, route):
    _client, cookie = _signed_in(make_user)
    Session.objects.filter(session_key=cookie).update(expire_date=timezone.now() - timedelta(seconds=1))

    with _socket(live_asgi, route, cookie) as websocket:  # a refused handshake would raise InvalidStatus (403)
        assert _close_code(websocket, timeout=5) == CLOSE_UNAUTHENTICATED


def test_a_session_that_expires_while_its_socket_is_open_closes_it_with_4401(live_asgi, demo_plant, make_user):
    _client, cookie = _signed_in(make_user)
    Session.objects.filter(session_key=cookie).update(expire_date=timezone.now() + timedelta(seconds=3))

    with _socket(live_asgi, "/ws/page/", cookie) as websocket:
        assert json.loads(websocket.recv(timeout=5))["type"] == "counts"  # streaming while the session lasts

        assert _close_code(websocket, timeout=15) == CLOSE_UNAUTHENTICATED


@pytest.mark.parametrize(("role", "days"), [("wall_screen", 365.0), ("operator", None)])
def test_a_wall_screens_session_lasts_wall_screen_session_days_others_the_usual_age(db, role, days):
    from accounts.services.roles import Role
    from tests.factories import UserFactory

    user = UserFactory(username=f"screen-{role}", role=Role.WALL_SCREEN if role == "wall_screen" else Role.OPERATOR)
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": f"pw-{user.username}-1"})
    assert response.status_code == 302
    expires = Session.objects.get(session_key=client.session.session_key).expire_date
    expected = timedelta(days=days) if days is not None else timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert abs((expires - timezone.now()) - expected) < timedelta(minutes=5)
