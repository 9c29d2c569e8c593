import socket


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


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether a server listens on (host, port): a TCP connection is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
