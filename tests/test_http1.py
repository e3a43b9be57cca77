"""The lean HTTP/1.1 client (adapters/http1.py) against real sockets: a scripted server that
writes exactly the bytes a test gives it, so every way a server can frame, delay, cut or
close an answer is shown, and a TLS server with a certificate made for the test."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from adapters import http1
from adapters.errors import UpstreamBadRequest, UpstreamTimeout, UpstreamUnavailable

pytestmark = pytest.mark.anyio

JSON = b'{"ok": true}'
WHOLE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n" + JSON

# What the server does with the n-th request on a connection (n counts from 0): bytes to send,
# or None to close the connection without answering.
Script = Callable[[int, int], bytes | None]


class ScriptedServer:
    """Reads each request whole (headers and a Content-Length body) and answers by script;
    records the requests and counts the connections."""

    def __init__(self, script: Script, close_after_answer: bool = False) -> None:
        self.script = script
        self.close_after_answer = close_after_answer  # as an HTTP/1.0 server does
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed_by_client = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> http1.Endpoint:
        return http1.Endpoint.of(f"http://127.0.0.1:{self.port}/v1/chat/completions")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = self.connections
        self.connections += 1
        try:
            for n in range(1000):
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.script(connection, n)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after_answer:
                    break
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
            writer.close()

    async def start(self, tls: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=tls)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[ScriptedServer]]]:
    servers: list[ScriptedServer] = []

    async def start(script: Script, close_after_answer: bool = False) -> ScriptedServer:
        server = ScriptedServer(script, close_after_answer)
        servers.append(server)
        await server.start()
        return server

    yield start  # type: ignore[misc]
    http1.close_pool()
    for server in servers:
        assert server.server is not None
        server.server.close()


async def _post(endpoint: http1.Endpoint, first_byte: float = 5.0) -> tuple[int, bytes]:
    answer = await http1.post(endpoint, {"Content-Type": "application/json"}, b"{}", 5, first_byte)
    async with answer:
        return answer.status, await answer.read()


def _always(answer: bytes) -> Script:
    return lambda connection, n: answer


async def test_whole_answers_reuse_one_connection_and_send_the_request_as_given(serve) -> None:
    server = await serve(_always(WHOLE))
    for _ in range(5):
        assert await _post(server.endpoint) == (200, JSON)
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in first and first.endswith(b"\r\n\r\n{}")
    assert b"Content-Length: 2\r\n" in first and b"Content-Type: application/json\r\n" in first


async def test_chunked_and_connection_delimited_bodies_are_read_whole(serve) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"ok"\r\n7\r\n: true}\r\n0\r\n\r\n'
    )
    assert await _post((await serve(_always(chunked))).endpoint) == (200, JSON)
    # HTTP/1.0 style: no length, the body ends when the server closes the connection.
    until_close = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + JSON

    server = await serve(_always(until_close), close_after_answer=True)
    assert await _post(server.endpoint) == (200, JSON)
    assert await _post(server.endpoint) == (200, JSON)  # not reused: a new connection answers
    assert server.connections == 2


async def test_an_interim_100_continue_is_skipped(serve) -> None:
    server = await serve(_always(b"HTTP/1.1 100 Continue\r\n\r\n" + WHOLE))
    assert await _post(server.endpoint) == (200, JSON)


async def test_a_kept_connection_the_server_dropped_is_replaced_and_the_request_sent_again(
    serve,
) -> None:
    # The first connection answers once, then closes when the next request arrives, as a
    # server closing an idle connection at that moment does: no byte of an answer came back.
    def drop_second(connection: int, n: int) -> bytes | None:
        return WHOLE if n == 0 else None

    server = await serve(drop_second)
    assert await _post(server.endpoint) == (200, JSON)
    assert await _post(server.endpoint) == (200, JSON)
    assert server.connections == 2 and len(server.requests) == 3


async def test_an_answer_cut_mid_body_is_an_error_not_a_short_body(serve) -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + JSON

    server = await serve(_always(cut), close_after_answer=True)
    with pytest.raises(UpstreamUnavailable, match="connection lost"):
        await _post(server.endpoint)


async def test_a_malformed_answer_and_a_refused_connection_are_unavailable(serve) -> None:
    server = await serve(_always(b"SMTP ready\r\n\r\n"))
    with pytest.raises(UpstreamUnavailable, match="malformed"):
        await _post(server.endpoint)
    gone = await serve(_always(WHOLE))
    assert gone.server is not None
    gone.server.close()
    await gone.server.wait_closed()
    with pytest.raises(UpstreamUnavailable, match="cannot connect"):
        await _post(gone.endpoint)


async def test_a_server_that_does_not_answer_times_out_on_the_first_byte(serve) -> None:
    silent = b""  # written, nothing: the server holds the request

    server = await serve(_always(silent))
    with pytest.raises(UpstreamTimeout, match=r"within 0\.2 s"):
        await _post(server.endpoint, first_byte=0.2)


async def test_a_stream_left_early_closes_its_connection_and_a_whole_one_keeps_it(serve) -> None:
    events = b"".join(f"data: {i}\n\n".encode() for i in range(3))
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(events):x}\r\n".encode()
        + events
        + b"\r\n0\r\n\r\n"
    )
    server = await serve(_always(chunked))
    endpoint = server.endpoint
    answer = await http1.post(endpoint, {}, b"{}", 5, 5)
    async with answer:
        lines = [line async for line in answer.lines()]
    assert lines == ["data: 0", "", "data: 1", "", "data: 2", ""]
    # Open-ended: the server sends headers and one event, then nothing; the reader leaves.
    server.script = lambda c, n: (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\ndata: 0\n\r\n"
    )
    answer = await http1.post(endpoint, {}, b"{}", 5, 5)
    async with answer:
        async for data in answer.chunks():
            assert data == b"data: 0\n"
            break
    for _ in range(50):
        if server.closed_by_client:
            break
        await asyncio.sleep(0.01)
    assert server.closed_by_client == 1
    assert server.connections == 1  # the whole stream's connection carried the second request


async def test_a_header_that_is_not_one_ascii_line_is_refused_before_sending(serve) -> None:
    server = await serve(_always(WHOLE))
    with pytest.raises(UpstreamBadRequest, match="Authorization"):
        await http1.post(server.endpoint, {"Authorization": "Bearer x\r\nX-Evil: 1"}, b"{}", 5, 5)
    assert server.connections == 0


async def test_https_is_verified_against_the_trusted_certificates(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    server = ScriptedServer(_always(WHOLE))
    port = await server.start(served)
    endpoint = http1.Endpoint.of(f"https://localhost:{port}/v1/chat/completions")
    try:
        # The system's trust store does not know the test's certificate: refused.
        with pytest.raises(UpstreamUnavailable, match=r"cannot connect.*CERTIFICATE_VERIFY"):
            await _post(endpoint)
        trusting = ssl.create_default_context(cafile=str(cert))
        http1.pool()._tls = trusting
        assert await _post(endpoint) == (200, JSON)
        assert await _post(endpoint) == (200, JSON)
        assert server.connections == 1  # one kept for both answers
    finally:
        http1.close_pool()
        assert server.server is not None
        server.server.close()


async def test_a_whole_body_larger_than_the_read_pause_is_read(serve) -> None:
    payload = b"[" + b"0.125," * 700_000 + b"0]"  # ~4 MB, as a big embeddings answer
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
    server = await serve(_always(head + payload))
    status, body = await _post(server.endpoint)
    assert status == 200 and body == payload


async def test_an_answer_sent_to_an_idle_connection_is_never_taken_for_the_next_request(
    serve,
) -> None:
    # Some servers write a 408 on a connection they are about to close for idleness; a
    # request sent on it must not get that 408 as its answer.
    server = await serve(_always(WHOLE))
    assert await _post(server.endpoint) == (200, JSON)
    idle = http1.pool().idle[("127.0.0.1", server.port, False)][0]
    idle.data_received(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
    assert await _post(server.endpoint) == (200, JSON)
    assert server.connections == 2


def test_credentials_in_a_url_are_refused_by_name() -> None:
    with pytest.raises(UpstreamBadRequest, match="API key"):
        http1.Endpoint.of("http://user:secret@127.0.0.1:8000/v1/chat/completions")


async def test_requests_beyond_the_in_flight_limit_wait_their_turn(serve) -> None:
    # A server slow to answer; three requests at once through a pool that allows two.
    gate = asyncio.Event()
    server = await serve(_always(WHOLE))
    original = server.handle

    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await gate.wait()
        await original(reader, writer)

    assert server.server is not None
    server.server.close()
    server.server = await asyncio.start_server(held, "127.0.0.1", server.port)
    http1.pool().in_flight = asyncio.Semaphore(2)
    calls = [asyncio.create_task(_post(server.endpoint)) for _ in range(3)]
    await asyncio.sleep(0.1)
    assert server.connections == 0 and http1.pool().in_flight.locked()
    gate.set()
    assert [await call for call in calls] == [(200, JSON)] * 3
    assert server.connections == 2  # the third request waited and took a kept connection
    # Waiting longer than the connect timeout for a turn is an error naming the limit.
    http1.pool().in_flight = asyncio.Semaphore(0)
    with pytest.raises(UpstreamUnavailable, match="in flight"):
        await http1.post(server.endpoint, {}, b"{}", 0.1, 5)
