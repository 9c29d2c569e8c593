"""TCP ports on this machine: free ones to listen on, and whether (or when) something accepts connections."""

import socket
import time
from collections.abc import Callable


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def preferred_or_free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """`preferred` when nothing listens there, else any free port."""
    return preferred if port_is_free(preferred, host) else free_port(host)


def free_port_other_than(port: int, host: str = "127.0.0.1") -> int:
    """A free port that is not `port` (which was picked free a moment ago but is not bound yet)."""
    while (other := free_port(host)) == port:
        pass
    return other


def port_accepts(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """Whether something accepts a TCP connection at host:port now (the connection is closed at once)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    *,
    timeout: float,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.05,
) -> bool:
    """Wait until host:port accepts a TCP connection: True then; False when `timeout` seconds pass first, or as
    soon as `alive()` says the process that should listen there has ended (so a crash is not waited out).

    Returns rather than raises: the caller knows what to tell (the server's log, its exit code).
    """
    deadline = time.monotonic() + timeout
    while True:
        if port_accepts(host, port, timeout=min(1.0, max(0.05, deadline - time.monotonic()))):
            return True
        if (alive is not None and not alive()) or time.monotonic() > deadline:
            return False
        time.sleep(interval)
