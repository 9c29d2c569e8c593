"""Reading what a browser sends over a WebSocket: one place that refuses hostile or malformed frames."""

import json
from typing import TypeGuard


class ClientMessageError(ValueError):
    """A frame the server will not act on; the message goes back to the browser as {"type": "error"}."""


def client_message_parse(text_data: str | None, *, max_bytes: int, example: str) -> dict:
    """The frame as a JSON object, or ClientMessageError saying what is wrong (`example` shows a valid one)."""
    if text_data is None:
        raise ClientMessageError("Send JSON text frames.")
    if len(text_data.encode()) > max_bytes:
        raise ClientMessageError(f"Message too large (limit {max_bytes} bytes).")
    try:
        message = json.loads(text_data)
    except ValueError:
        raise ClientMessageError("Message is not valid JSON.") from None
    if not isinstance(message, dict):
        raise ClientMessageError(f"Message must be an object such as {example}.")
    return message


def is_id_list(value: object, *, max_items: int | None = None) -> TypeGuard[list[int]]:
    """A non-empty list of integer ids (booleans, which JSON parses as ints in Python, excluded)."""
    return (
        isinstance(value, list)
        and bool(value)
        and (max_items is None or len(value) <= max_items)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in value)
    )
