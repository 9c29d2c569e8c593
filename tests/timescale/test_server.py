"""The wire-protocol server over PGlite (server.mjs), through psycopg and raw sockets, on its own instance."""

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.timescale.harness import HarnessUnavailable, TimescaleHarness


@pytest.fixture(scope="module")
def harness() -> Iterator[TimescaleHarness]:
    try:
        with TimescaleHarness() as running:
            yield running
    except HarnessUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture
def conn(harness) -> Iterator[psycopg.Connection]:
    with psycopg.connect(harness.url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def table(conn) -> Iterator[str]:
    conn.execute("CREATE TABLE probe (time timestamptz NOT NULL, tag_id int4 NOT NULL, value float8)")
    conn.execute("SELECT create_hypertable('probe', by_range('time', INTERVAL '1 day'))")
    yield "probe"
    conn.execute("DROP TABLE probe")


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _read_until_ready(sock: socket.socket) -> bytes:
    data = b""
    while not (len(data) >= 6 and data[-6:-1] == b"Z\x00\x00\x00\x05"):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@contextmanager
def _raw_session(harness: TimescaleHarness) -> Iterator[socket.socket]:
    """A socket past the startup exchange, for messages that psycopg never sends."""
    startup = struct.pack("!i", 196608) + b"user\x00postgres\x00database\x00postgres\x00\x00"
    with socket.create_connection(("127.0.0.1", harness.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(struct.pack("!i", len(startup) + 4) + startup)
        _read_until_ready(sock)
        yield sock


def test_timescaledb_is_available_and_installable(conn):
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")

    [(version,)] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchall()

    assert version.startswith("2.")
    assert conn.info.server_version >= 170000


def test_binary_and_text_copy_from_stdin_store_every_row(conn, table):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with conn.transaction(), conn.cursor().copy("COPY probe (time, tag_id, value) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["timestamptz", "int4", "float8"])
        for n in range(20_000):
            copy.write_row((start + timedelta(seconds=n), n % 7, float(n)))
    with conn.cursor().copy("COPY probe (time, tag_id, value) FROM STDIN") as copy:
        copy.write_row((start - timedelta(days=1), 99, None))

    assert conn.execute("SELECT count(*), sum(value), count(*) FILTER (WHERE value IS NULL) FROM probe").fetchone() == (
        20_001,
        float(sum(range(20_000))),
        1,
    )


class Interrupted(Exception):
    pass


def _copy_interrupted(conn: psycopg.Connection) -> None:
    with conn.transaction(), conn.cursor().copy("COPY probe (time, tag_id, value) FROM STDIN") as copy:
        copy.write_row((datetime(2026, 3, 1, tzinfo=UTC), 1, 1.0))
        raise Interrupted


def test_a_failed_copy_aborts_the_transaction_and_stores_nothing(conn, table):
    with pytest.raises(Interrupted):
        _copy_interrupted(conn)

    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM probe").fetchone() == (0,)


def test_a_copy_through_the_extended_protocol_is_refused_and_the_server_goes_on(harness, conn, table):
    # psycopg always sends COPY as a simple query; libpq's PQexecParams would send it like this.
    parse = _message(b"P", b"\x00COPY probe FROM STDIN\x00\x00\x00")
    with _raw_session(harness) as sock:
        sock.sendall(parse + _message(b"S", b""))
        reply = _read_until_ready(sock)

    assert reply.startswith(b"E")
    assert b"simple query" in reply
    assert conn.execute("SELECT count(*) FROM probe").fetchone() == (0,)


def test_a_server_side_cursor_declared_in_sql_streams_its_rows(conn):
    # psycopg DECLAREs the cursor in SQL, then describes the portal by its name through the protocol.
    with conn.transaction(), conn.cursor(name="streamed") as cursor:
        cursor.itersize = 7
        cursor.execute("SELECT g FROM generate_series(1, 50) g")
        assert [g for (g,) in cursor] == list(range(1, 51))


def test_two_connections_keep_their_own_prepared_statements(harness):
    # prepare_threshold=0: psycopg prepares every statement, naming them _pg3_0, _pg3_1... on each connection.
    with (
        psycopg.connect(harness.url, autocommit=True, prepare_threshold=0) as first,
        psycopg.connect(harness.url, autocommit=True, prepare_threshold=0) as second,
    ):
        for n in range(3):
            assert first.execute("SELECT %s::int * 2", [n]).fetchone() == (n * 2,)
            assert second.execute("SELECT %s::text || '!'", [str(n)]).fetchone() == (f"{n}!",)


def test_clients_on_several_threads_take_turns_without_mixing_results(harness):
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            with psycopg.connect(harness.url, autocommit=True) as connection:
                for n in range(50):
                    rows = connection.execute("SELECT %s::int, g FROM generate_series(1, %s) g", [number, n]).fetchall()
                    assert rows == [(number, g) for g in range(1, n + 1)]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []


def test_a_message_split_across_tcp_reads_is_reassembled(harness):
    query = _message(b"Q", b"SELECT 'split' || 'ok'\x00")
    with _raw_session(harness) as sock:
        for byte in query:
            sock.sendall(bytes([byte]))
        reply = _read_until_ready(sock)

    assert b"splitok" in reply
    assert b"C\x00\x00\x00\x0dSELECT 1\x00" in reply


def test_closing_a_connection_rolls_back_the_transaction_it_opened(harness, conn, table):
    with psycopg.connect(harness.url) as leaving:
        leaving.execute("INSERT INTO probe VALUES (now(), 1, 1.0)")
        assert leaving.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS

    # psycopg's context manager commits on a clean exit; a connection that just goes away must not.
    leaving = psycopg.connect(harness.url)
    leaving.execute("INSERT INTO probe VALUES (now(), 2, 2.0)")
    leaving.pgconn.finish()

    assert conn.execute("SELECT tag_id FROM probe").fetchall() == [(1,)]


def test_ssl_is_refused_so_a_client_that_requires_it_gets_a_clear_error(harness):
    with pytest.raises(psycopg.OperationalError, match="SSL"):
        psycopg.connect(harness.url + "?sslmode=require", connect_timeout=5)


def test_stopping_the_harness_ends_the_server(harness):
    harness = TimescaleHarness().start()  # a second one: the module's stays up for the other tests
    process, port = harness.process, harness.port

    harness.stop()

    assert process is not None
    assert process.returncode == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
