"""A streamed answer of server-sent events, sent without a task group per response.

Starlette's StreamingResponse runs the body in an anyio task group beside a task that waits
for the client to leave; on a fast upstream that set-up was a good part of the time to the
first token. This response streams in the request's own task and watches for the client in
one plain asyncio task, which cancels the stream when the client goes, as Starlette's does:
the stream's own clean-up (the ledger's record of a stream cut short) runs either way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        sent_all = False
        client_gone = False

        async def watch() -> None:
            nonlocal client_gone
            while (await receive())["type"] != "http.disconnect":
                pass
            if not sent_all:
                client_gone = True
                streaming.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for data in self.events:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            sent_all = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not client_gone:
                raise
            streaming.uncancel()  # the client left: nothing more to do, and no error
        finally:
            sent_all = True
            watcher.cancel()
            close = getattr(self.events, "aclose", None)
            if close is not None:
                await close()
