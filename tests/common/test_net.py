"""common/net.py: free ports, and waiting until something accepts connections on one."""

import socket
import subprocess
import sys
import threading

from common.net import free_port, port_accepts, wait_for_port


def test_a_listening_port_accepts_and_a_free_one_does_not():
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert port_accepts("127.0.0.1", server.getsockname()[1])
    assert not port_accepts("127.0.0.1", free_port())


def test_waiting_returns_once_a_server_starts_listening():
    port = free_port()
    started = threading.Event()
    stop = threading.Event()

    def listen_later() -> None:
        started.wait(5)
        with socket.create_server(("127.0.0.1", port)):
            stop.wait(10)

    thread = threading.Thread(target=listen_later)
    thread.start()
    try:
        started.set()
        assert wait_for_port("127.0.0.1", port, timeout=10)
    finally:
        stop.set()
        thread.join()


def test_waiting_gives_up_when_the_process_that_should_listen_has_ended():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    # A timeout far longer than the suite would tolerate: only `alive` can end this wait.
    assert not wait_for_port("127.0.0.1", free_port(), timeout=3600, alive=lambda: process.poll() is None)


def test_waiting_gives_up_after_the_timeout_when_nothing_listens():
    assert not wait_for_port("127.0.0.1", free_port(), timeout=0.2)
