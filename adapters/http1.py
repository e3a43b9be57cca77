"""A lean HTTP/1.1 client for the request path: one POST to a model server, its answer read
whole or as it arrives, over connections kept per event loop.

Why not aiohttp here: profiled under load, aiohttp's request and response objects cost the
gateway about a fifth of its CPU per request, and a stream's first bytes reached the gateway
~1 ms after a direct client's. This client does what the gateway needs and nothing else: it
writes the request in one write, parses the answer with httptools (the C parser uvicorn
already uses), and hands the body over as it comes. Redirects, cookies, proxies and
compression are not needed to talk to a model server and are not done (no Accept-Encoding is
sent, so a server answers uncompressed).

Errors are the adapters' own (adapters/errors.py): a connection that cannot be made or is
lost is UpstreamUnavailable, a server that does not answer within the first-byte timeout is
UpstreamTimeout.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from adapters.errors import UpstreamBadRequest, UpstreamTimeout, UpstreamUnavailable

# Idle connections are let go after 4 s: servers built on uvicorn (vLLM, llama-cpp-python's)
# close theirs after 5 s, and writing to one they are closing loses the request.
IDLE_SECONDS = 4.0
# A stream's unread body above this pauses reading from the server (TCP pushes back on it).
HIGH_WATER = 256 * 1024
# Requests in flight to upstreams at once, per process: more wait their turn (within the
# connect timeout) rather than open connections until the process runs out of files.
MAX_IN_FLIGHT = 512


@dataclass(frozen=True)
class Endpoint:
    """Where a URL's requests go, parsed once (adapters keep theirs)."""

    host: str
    port: int
    tls: bool
    target: bytes  # the request line's path and query
    host_header: bytes

    @classmethod
    def of(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamUnavailable(f"not an http(s) URL: {url!r}")
        if parts.username or parts.password:
            raise UpstreamBadRequest(
                f"credentials in a deployment's URL are not sent ({parts.hostname}): "
                "give them as the deployment's API key"
            )
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.hostname, port, tls, target.encode(), parts.netloc.encode("idna"))

    def request(self, headers: dict[str, str], body: bytes) -> bytes:
        """The whole request, ready for one write."""
        lines = [b"POST ", self.target, b" HTTP/1.1\r\nHost: ", self.host_header, b"\r\n"]
        for name, value in headers.items():
            if "\n" in value or "\r" in value or not value.isascii():
                raise UpstreamBadRequest(f"the header {name} cannot be sent: not one line of ASCII")
            lines += [name.encode(), b": ", value.encode(), b"\r\n"]
        lines += [b"Content-Length: ", str(len(body)).encode(), b"\r\n\r\n", body]
        return b"".join(lines)


class _Connection(asyncio.Protocol):
    """One connection to a server and the answer being read on it (one at a time)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False
        self.idle_since = 0.0
        self._reset_answer()

    def _reset_answer(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.length_known = False  # Content-Length or chunked: the body's end is marked
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.got_bytes = False
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False

    # asyncio's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamUnavailable(f"upstream sent a malformed HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        if self.headers_done and not self.complete and not self.length_known:
            self.on_message_complete()  # a body that ends when the connection does
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.complete:
            why = f": {exc}" if exc else " before the answer's end"
            self._fail(UpstreamUnavailable(f"upstream connection lost{why}"))

    # httptools' side
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        if key == "content-length" or (key == "transfer-encoding" and "chunked" in text):
            self.length_known = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:  # 1xx: an interim answer, the real one follows on the same parser
            self.headers, self.length_known = {}, False
            return
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.headers_done:  # not the end of a 1xx interim answer
            self.complete = True
            # The parser knows it only now: once it starts on the next message it forgets.
            self.keep_alive = self.parser.should_keep_alive()
            self._wake()

    # the client's side
    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        """Until something arrives (or the connection fails), at most `seconds`."""
        if self.error is not None:
            raise self.error
        self.waiter = waiter = self.loop.create_future()
        timer = self.loop.call_later(seconds, _expire, waiter, seconds)
        try:
            await waiter
        finally:
            timer.cancel()
            self.waiter = None
        if self.error is not None:
            raise self.error

    def take(self) -> bytes:
        data = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.lost

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None], seconds: float) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout(f"no answer from upstream within {seconds:g} s"))


class Pool:
    """Idle connections per server for one event loop, the newest reused first."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    def tls_context(self) -> ssl.SSLContext:
        if self._tls is None:  # loading the system's certificates takes a few ms: once
            self._tls = ssl.create_default_context()
        return self._tls

    def _take_idle(self, endpoint: Endpoint) -> _Connection | None:
        stack = self.idle.get((endpoint.host, endpoint.port, endpoint.tls))
        now = self.loop.time()
        while stack:
            connection = stack.pop()
            # A server may answer nothing it was asked, e.g. a 408 before it closes an idle
            # connection: such a connection is never given a request.
            fresh = now - connection.idle_since < IDLE_SECONDS
            if fresh and not connection.lost and not connection.got_bytes:
                return connection
            connection.close()
        return None

    async def _connect(self, endpoint: Endpoint, seconds: float) -> _Connection:
        tls = self.tls_context() if endpoint.tls else None
        try:
            async with asyncio.timeout(seconds):
                _, connection = await self.loop.create_connection(
                    lambda: _Connection(self.loop),
                    endpoint.host,
                    endpoint.port,
                    ssl=tls,
                    server_hostname=endpoint.host if tls else None,
                )
        except TimeoutError as exc:
            raise UpstreamUnavailable(
                f"cannot connect to upstream {endpoint.host}:{endpoint.port} within {seconds:g} s"
            ) from exc
        except OSError as exc:  # refused, unreachable, no such host, TLS failure
            raise UpstreamUnavailable(f"cannot connect to upstream: {exc}") from exc
        return connection

    def release(self, endpoint: Endpoint, connection: _Connection) -> None:
        if not connection.reusable():
            connection.close()
            return
        connection.parser = httptools.HttpResponseParser(connection)
        connection._reset_answer()
        connection.idle_since = self.loop.time()
        self.idle.setdefault((endpoint.host, endpoint.port, endpoint.tls), []).append(connection)

    async def send(
        self, endpoint: Endpoint, request: bytes, connect: float, first_byte: float
    ) -> _Connection:
        """The request sent and the answer's headers read: the connection holding the answer.
        A kept connection the server had closed in the meantime (no byte of an answer came
        back) is replaced by a new one and the request sent once more: the server never read
        it."""
        connection = self._take_idle(endpoint)
        if connection is not None:
            try:
                return await self._exchange(connection, request, first_byte)
            except UpstreamUnavailable:
                if connection.got_bytes:
                    raise
        return await self._exchange(await self._connect(endpoint, connect), request, first_byte)

    async def _exchange(
        self, connection: _Connection, request: bytes, first_byte: float
    ) -> _Connection:
        assert connection.transport is not None
        try:
            connection.transport.write(request)
            while not connection.headers_done:
                await connection.wait(first_byte)
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        for stack in self.idle.values():
            for connection in stack:
                connection.close()
        self.idle.clear()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def pool() -> Pool:
    loop = asyncio.get_running_loop()
    found = _pools.get(loop)
    if found is None:
        found = _pools[loop] = Pool(loop)
    return found


def close_pool() -> None:
    found = _pools.pop(asyncio.get_running_loop(), None)
    if found is not None:
        found.close()


class Answer:
    """A server's answer: status and headers read, the body to come (`read` or `chunks`).
    Use it as an async context manager: leaving it before the body's end closes the
    connection (which stops a model's generation there); a whole answer's connection is kept
    for the next request."""

    def __init__(self, pool: Pool, endpoint: Endpoint, connection: _Connection, read: float):
        self._pool, self._endpoint, self._connection = pool, endpoint, connection
        self._read_seconds = read
        self._finished = False
        self.status = connection.status
        self.headers = connection.headers  # names in lower case

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.finish()

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._pool.in_flight.release()
        connection = self._connection
        if connection.complete:
            self._pool.release(self._endpoint, connection)
        else:
            connection.close()

    async def read(self) -> bytes:
        connection = self._connection
        parts = []
        while not connection.complete:
            if connection.chunks:  # taken as it comes: a paused large body resumes
                parts.append(connection.take())
            await connection.wait(self._read_seconds)
        parts.append(connection.take())
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def lines(self) -> AsyncIterator[str]:
        """The body as lines of text (server-sent events), without their line ends."""
        rest = b""
        async for data in self.chunks():
            rest += data
            *whole, rest = rest.split(b"\n")
            for line in whole:
                yield line.rstrip(b"\r").decode()
        if rest:
            yield rest.rstrip(b"\r").decode()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, a read at a time."""
        connection = self._connection
        while True:
            if connection.chunks:
                yield connection.take()
            elif connection.complete:
                return
            else:
                await connection.wait(self._read_seconds)

    async def read_end(self, seconds: float) -> bool:
        """Read what is left of the body for at most `seconds`; whether it ended."""
        connection = self._connection
        try:
            async with asyncio.timeout(seconds):
                while not connection.complete:
                    await connection.wait(seconds)
        except (TimeoutError, UpstreamTimeout, UpstreamUnavailable):
            return False
        connection.take()
        return True


async def post(
    endpoint: Endpoint, headers: dict[str, str], body: bytes, connect: float, first_byte: float
) -> Answer:
    """Send a POST and read its answer's headers; `first_byte` bounds every wait for data."""
    request = endpoint.request(headers, body)
    where = pool()
    if where.in_flight.locked():
        try:
            async with asyncio.timeout(connect):
                await where.in_flight.acquire()
        except TimeoutError as exc:
            raise UpstreamUnavailable(
                f"{MAX_IN_FLIGHT} requests to upstreams already in flight; none ended within "
                f"{connect:g} s"
            ) from exc
    else:
        await where.in_flight.acquire()
    try:
        connection = await where.send(endpoint, request, connect, first_byte)
    except BaseException:
        where.in_flight.release()
        raise
    return Answer(where, endpoint, connection, first_byte)
