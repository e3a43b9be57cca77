"""A routed stream of chat.completion.chunk dicts as the Responses API's event sequence
(response.created … response.completed), each event numbered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.errors import AdapterError
from router.api.responses import finished, output_text
from router.api.translation import event, new_id

Finish = Callable[[dict[str, Any]], Awaitable[None]]


class ResponseEvents:
    """chat.completion.chunk dicts as the Responses event sequence. An output item opens
    with output_item.added (and content_part.added for text), grows by deltas, and closes
    with its .done events before the next opens; response.completed (or .incomplete) carries
    the whole response with usage. `on_complete` (storing it) runs before that last event,
    so a client that saw it can continue from it at once."""

    def __init__(self, response: dict[str, Any], on_complete: Finish | None = None) -> None:
        self.response = response
        self.on_complete = on_complete
        self.sequence = 0
        self.started = False
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the output item being streamed
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}  # chat tool-call index -> its item
        self.finish_reason: str | None = None

    def _event(self, name: str, fields: dict[str, Any]) -> bytes:
        fields = {"type": name, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event(name, fields)

    def _start(self, model: str | None) -> bytes:
        self.started = True
        if model:
            self.response["model"] = model
        snapshot = dict(self.response)
        return self._event("response.created", {"response": snapshot}) + self._event(
            "response.in_progress", {"response": snapshot}
        )

    def _index(self) -> int:
        return len(self.output)

    def _open_message(self) -> bytes:
        item = {
            "id": new_id("msg"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self.open, self.text = item, []
        where = {"item_id": item["id"], "output_index": self._index()}
        return self._event(
            "response.output_item.added", {"output_index": self._index(), "item": item}
        ) + self._event(
            "response.content_part.added",
            {**where, "content_index": 0, "part": output_text("")},
        )

    def _open_call(self, index: int, call: Mapping[str, Any]) -> bytes:
        function = call.get("function") or {}
        item = {
            "id": new_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": call.get("id") or new_id("call"),
            "name": function.get("name") or "",
            "arguments": "",
        }
        self.open = self.calls[index] = item
        return self._event(
            "response.output_item.added", {"output_index": self._index(), "item": item}
        )

    def _close(self) -> bytes:
        item, self.open = self.open, None
        if item is None:
            return b""
        where = {"item_id": item["id"], "output_index": self._index()}
        out = b""
        if item["type"] == "message":
            text = "".join(self.text)
            part = output_text(text)
            out += self._event(
                "response.output_text.done",
                {**where, "content_index": 0, "text": text, "logprobs": []},
            )
            out += self._event(
                "response.content_part.done", {**where, "content_index": 0, "part": part}
            )
            item["content"] = [part]
        else:
            out += self._event(
                "response.function_call_arguments.done",
                {**where, "arguments": item["arguments"]},
            )
        item["status"] = "completed"
        out += self._event(
            "response.output_item.done", {"output_index": self._index(), "item": item}
        )
        self.output.append(item)
        return out

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = b"" if self.started else self._start(chunk.get("model"))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if self.open is None or self.open["type"] != "message":
                    out += self._close() + self._open_message()
                assert self.open is not None
                self.text.append(text)
                out += self._event(
                    "response.output_text.delta",
                    {
                        "item_id": self.open["id"],
                        "output_index": self._index(),
                        "content_index": 0,
                        "delta": text,
                        "logprobs": [],
                    },
                )
            for call in delta.get("tool_calls") or ():
                index = int(call.get("index") or 0)
                if index not in self.calls:
                    out += self._close() + self._open_call(index, call)
                item = self.calls[index]
                piece = (call.get("function") or {}).get("arguments")
                if piece:
                    item["arguments"] += piece
                if piece and item is self.open:
                    out += self._event(
                        "response.function_call_arguments.delta",
                        {"item_id": item["id"], "output_index": self._index(), "delta": piece},
                    )
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    async def end(self, usage: Mapping[str, Any]) -> bytes:
        out = b"" if self.started else self._start(None)
        if not self.output and self.open is None:
            out += self._open_message()  # an empty answer is still one (empty) message
        out += self._close()
        response = finished(self.response, self.output, self.finish_reason, usage)
        if self.on_complete is not None:
            await self.on_complete(response)
        name = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return out + self._event(name, {"response": response})

    def failed(self, exc: AdapterError) -> bytes:
        out = b"" if self.started else self._start(None)
        self.response.update(
            status="failed",
            output=self.output,
            error={"code": "server_error", "message": exc.message},
        )
        return out + self._event("response.failed", {"response": self.response})
