"""The answer of a request served on the fast path, as JSON written by orjson.

Starlette's JSONResponse writes with the standard library: 26 µs for a Responses answer
against under 2 µs, on every request. The bytes are the same compact UTF-8 JSON; a value
JSON cannot hold (an upstream's NaN logprob) is written as null instead of failing the
request."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from adapters import json_bytes


class JSONAnswer(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json_bytes.dumps(content)
