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
