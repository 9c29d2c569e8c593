import socket

from common.net import free_port, port_accepts


def test_a_port_accepts_once_a_server_listens_there():
    port = free_port()
    assert not port_accepts(port)

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert port_accepts(port)
