"""A local provider speaking OpenAI's and Anthropic's wire formats, for the real SDKs to call.

Answers Chat Completions (``/v1/chat/completions``, streamed as server-sent
events when asked), the Responses API (``/v1/responses``) and Anthropic's
Messages (``/v1/messages``) with fixed usage, so a test knows what was billed:
OpenAI 1,000 input (200 cached) / 500 output (100 reasoning); Anthropic 800
input + 200 cache reads + 50 cache writes / 300 output. ``WireProvider.cost``
adds a gateway's ``usage.cost`` to OpenAI answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
CHUNKS = 6  # content chunks in a stream, before the usage


@dataclass
class WireProvider:
    """The fake provider's state: what it was asked, and an optional reported cost."""

    cost: float | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        """Return the ASGI app serving the three APIs."""
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
            ]
        )

    def _openai_usage(self, *, responses: bool) -> dict[str, Any]:
        if responses:
            usage: dict[str, Any] = {
                "input_tokens": 1000, "input_tokens_details": {"cached_tokens": 200},
                "output_tokens": 500, "output_tokens_details": {"reasoning_tokens": 100},
                "total_tokens": 1500,
            }  # fmt: skip
        else:
            usage = {
                "prompt_tokens": 1000, "prompt_tokens_details": {"cached_tokens": 200},
                "completion_tokens": 500, "completion_tokens_details": {"reasoning_tokens": 100},
                "total_tokens": 1500,
            }  # fmt: skip
        if self.cost is not None:
            usage["cost"] = self.cost
        return usage

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        base = {"id": "chatcmpl-1", "created": 1, "model": OPENAI_MODEL}
        if not body.get("stream"):
            return JSONResponse({
                **base, "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "hello"}}],
                "usage": self._openai_usage(responses=False),
            })  # fmt: skip
        include = bool((body.get("stream_options") or {}).get("include_usage"))

        def events() -> Iterator[str]:
            for index in range(CHUNKS):
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [
                        {"index": 0, "delta": {"content": f"w{index} "}, "finish_reason": None}
                    ],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            done = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(done)}\n\n"
            if include:
                last = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": self._openai_usage(responses=False),
                }
                yield f"data: {json.dumps(last)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def _response_body(self) -> dict[str, Any]:
        return {
            "id": "resp_1", "object": "response", "created_at": 1, "model": OPENAI_MODEL,
            "status": "completed", "parallel_tool_calls": True, "tool_choice": "auto",
            "tools": [], "output": [{
                "type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "hello", "annotations": []}],
            }],
            "usage": self._openai_usage(responses=True),
        }  # fmt: skip

    async def _responses(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        final = self._response_body()
        if not body.get("stream"):
            return JSONResponse(final)

        def events() -> Iterator[str]:
            started = {**final, "status": "in_progress", "usage": None, "output": []}
            yield _sse("response.created", {"type": "response.created", "sequence_number": 0,
                                            "response": started})  # fmt: skip
            for index in range(CHUNKS):
                yield _sse("response.output_text.delta", {
                    "type": "response.output_text.delta", "sequence_number": index + 1,
                    "item_id": "msg_1", "output_index": 0, "content_index": 0,
                    "delta": f"w{index} ", "logprobs": [],
                })  # fmt: skip
            yield _sse(
                "response.completed",
                {"type": "response.completed", "sequence_number": CHUNKS + 1, "response": final},
            )

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        usage = {"input_tokens": 800, "cache_read_input_tokens": 200,
                 "cache_creation_input_tokens": 50, "output_tokens": 300}  # fmt: skip
        message = {
            "id": "msg_1", "type": "message", "role": "assistant", "model": ANTHROPIC_MODEL,
            "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": usage,
        }  # fmt: skip
        if not body.get("stream"):
            return JSONResponse(message)

        def events() -> Iterator[str]:
            start = {
                **message,
                "content": [],
                "stop_reason": None,
                "usage": {**usage, "output_tokens": 1},
            }
            yield _sse("message_start", {"type": "message_start", "message": start})
            yield _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            for index in range(CHUNKS):
                yield _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": f"w{index} "},
                    },
                )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 300},
                },
            )
            yield _sse("message_stop", {"type": "message_stop"})

        return StreamingResponse(events(), media_type="text/event-stream")


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
