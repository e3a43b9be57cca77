"""The request's span around the whole ASGI exchange, so its duration covers a streamed answer
to the last byte and its status is the one the client got. Only requests to a model API are
traced (router/pipeline/telemetry.py's OPERATIONS); without telemetry nothing here runs."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.pipeline import Telemetry


async def traced(
    telemetry: Telemetry, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    opened = telemetry.open(scope["path"], Headers(scope=scope))
    if opened is None:
        await app(scope, receive, send)
        return
    status: int | None = None

    async def sending(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    try:
        await app(scope, receive, sending)
    finally:
        telemetry.close(opened, status)
