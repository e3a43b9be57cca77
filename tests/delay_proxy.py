"""A reverse proxy that waits before forwarding: it makes a real server slow, for tests that
need one deployment slower than another. `python -m tests.delay_proxy PORT TARGET SECONDS`."""

from __future__ import annotations

import asyncio
import sys

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def make_app(target: str, delay: float) -> Starlette:
    client = httpx.AsyncClient(base_url=target, timeout=120)

    async def forward(request: Request) -> Response:
        await asyncio.sleep(delay)
        upstream = await client.request(
            request.method,
            request.url.path,
            params=request.query_params,
            content=await request.body(),
            headers={"content-type": request.headers.get("content-type", "application/json")},
        )
        return Response(
            upstream.content,
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type"),
        )

    methods = ["GET", "POST"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


if __name__ == "__main__":
    port, target, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    uvicorn.run(make_app(target, delay), host="127.0.0.1", port=port, log_level="warning")
