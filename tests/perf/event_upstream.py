"""A streaming upstream as fast as a server that writes every token as it comes: the chat
benchmark's stream (tests/perf/test_chat_surface_perf.py), one socket write per event, with
no pause between them. Inference servers (llama.cpp, vLLM) write this way; a file served whole
by nginx instead arrives as one burst, which measures a bulk copy rather than a relay.

/paced/v1/chat/completions sends the same stream with 1 ms before each of its first
PACED_EVENTS events, as a model emits its first tokens: written flat out, the stream keeps
one of a 2-core machine's cores busy for ~8 ms, and a client reading through the gateway
then waits for a core to be free (three busy processes on two cores) as much as for the
gateway. Paced, the first content chunk's delay is the gateway's own.

    python -m tests.perf.event_upstream PORT
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def events() -> list[bytes]:
    from tests.perf.test_chat_surface_perf import _stream_body

    return [e.encode() + b"\n\n" for e in _stream_body().split("\n\n") if e]


PACED_EVENTS = 10


def app() -> web.Application:
    stream = events()

    async def send(request: web.Request, paced: int) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, event in enumerate(stream):
            if index < paced:
                await asyncio.sleep(0.001)
            await response.write(event)
        await response.write_eof()
        return response

    async def chat(request: web.Request) -> web.StreamResponse:
        return await send(request, 0)

    async def paced(request: web.Request) -> web.StreamResponse:
        return await send(request, PACED_EVENTS)

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    application = web.Application()
    application.router.add_post("/v1/chat/completions", chat)
    application.router.add_post("/paced/v1/chat/completions", paced)
    application.router.add_get("/ready", ready)
    return application


if __name__ == "__main__":
    # Stopped with SIGTERM by the benchmark: no waiting for kept-alive connections.
    web.run_app(
        app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        shutdown_timeout=0.5,
    )
