"""A browser session's WebSockets: each socket joins its session's group, so signing out can close them all.

Without it a live socket keeps streaming after logout (the session is gone, the socket is not), and a socket
opened with an expired session never learns it should send its page to the login page.
"""

import hashlib

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

SESSION_ENDED_MESSAGE_TYPE = "session.ended"
CLOSE_UNAUTHENTICATED = 4401  # the pages' socket helper sends the browser to the login page on this code
CLOSE_FORBIDDEN = 4403


def session_sockets_group(session_key: str) -> str:
    """The channel-layer group of one session's sockets. Hashed: the session key itself never leaves Django."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def session_sockets_close(*, session_key: str | None) -> None:
    """Close every WebSocket opened with this session (each consumer closes itself with 4401)."""
    layer = get_channel_layer()
    if not session_key or layer is None:
        return
    async_to_sync(layer.group_send)(session_sockets_group(session_key), {"type": SESSION_ENDED_MESSAGE_TYPE})


def session_sockets_close_on_logout(sender, request, user, **kwargs) -> None:
    """`user_logged_out` receiver: Django sends it before flushing the session, so the key is still there."""
    session = getattr(request, "session", None)
    session_sockets_close(session_key=session.session_key if session is not None else None)


def session_seconds_left(session_key: str) -> float | None:
    """Seconds until the stored session expires (0 when it has, or is gone); None for a session not stored in the
    database (signed cookies, caches: their sockets end at the next reconnection instead)."""
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return None
    expires = Session.objects.filter(session_key=session_key).values_list("expire_date", flat=True).first()
    return 0.0 if expires is None else max(0.0, (expires - timezone.now()).total_seconds())


def session_expiry_for_wall_screens(sender, request, user, **kwargs) -> None:
    """`user_logged_in` receiver: a wall screen's session (accounts' Wall screen role) lasts
    WALL_SCREEN_SESSION_DAYS from its sign-in instead of SESSION_COOKIE_AGE, so that a screen in the control room
    that nobody touches is not sent to the login page every two weeks. The account can do nothing but look, and
    signing it out (or deactivating it) still ends its sessions and closes their sockets."""
    from django.conf import settings

    from accounts.services.roles import Role

    session = getattr(request, "session", None)
    if session is None or not user.groups.filter(name=Role.WALL_SCREEN.value).exists():
        return
    session.set_expiry(int(settings.WALL_SCREEN_SESSION_DAYS * 86400))
