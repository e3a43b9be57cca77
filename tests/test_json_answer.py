"""The fast path's JSON answers: the bytes Starlette's JSONResponse writes, and valid JSON
where the standard library would fail the request."""

from __future__ import annotations

import json
import math

from starlette.responses import JSONResponse

from router.api.json_answer import JSONAnswer


def test_the_same_bytes_as_starlettes_answer() -> None:
    answer = {
        "id": "chatcmpl-1",
        "choices": [{"message": {"content": "Zoë — 温度 ✓", "tool_calls": None}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        "nested": [1, 2.5, True, None, {"x": [0.1]}],
    }
    assert JSONAnswer(answer).body == JSONResponse(answer).body


def test_a_value_json_cannot_hold_is_null_not_a_failed_request() -> None:
    answer = {"logprobs": {"content": [{"token": "a", "logprob": -math.inf}]}, "n": math.nan}
    written = json.loads(JSONAnswer(answer).body)
    assert written == {"logprobs": {"content": [{"token": "a", "logprob": None}]}, "n": None}


def test_integers_beyond_64_bits_are_written_exactly() -> None:
    assert json.loads(JSONAnswer({"seed": 2**70}).body) == {"seed": 2**70}
