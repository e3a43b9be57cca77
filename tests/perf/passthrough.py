"""The benchmark's reference: a bare aiohttp pass-through, the least a Python gateway can do.
Each POST's body is sent as it came to the same upstream over one pooled aiohttp session, and
the upstream's answer comes back as it is (a stream read and written as it arrives). No
authentication, no validation, no routing, no records; on uvloop, as the gateway runs.

    python -m tests.perf.passthrough PORT UPSTREAM_BASE_URL
"""

from __future__ import annotations

import sys

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)


def app(upstream: str) -> web.Application:
    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        session = request.app[SESSION]
        headers = {"Content-Type": "application/json"}
        async with session.post(upstream + request.path, data=body, headers=headers) as answer:
            if answer.content_type != "text/event-stream":
                return web.Response(
                    body=await answer.read(),
                    status=answer.status,
                    content_type=answer.content_type,
                )
            relayed = web.StreamResponse(
                status=answer.status, headers={"Content-Type": "text/event-stream"}
            )
            await relayed.prepare(request)
            async for data in answer.content.iter_any():
                await relayed.write(data)
            await relayed.write_eof()
            return relayed

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def session(application: web.Application):  # type: ignore[no-untyped-def]
        connector = aiohttp.TCPConnector(limit=512)
        application[SESSION] = aiohttp.ClientSession(connector=connector)
        yield
        await application[SESSION].close()

    application = web.Application()
    application.cleanup_ctx.append(session)
    application.router.add_get("/ready", ready)
    application.router.add_post("/{tail:.*}", forward)
    return application


if __name__ == "__main__":
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # as the gateway's servers run
    web.run_app(
        app(sys.argv[2].rstrip("/")),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        shutdown_timeout=0.5,
    )
