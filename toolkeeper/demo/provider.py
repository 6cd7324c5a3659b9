"""A fake LLM provider speaking OpenAI's chat completions wire format, for the demo and tests.

``POST /v1/chat/completions`` answers as OpenAI does: a ``chat.completion``
object with ``id``, ``created``, ``model``, ``choices`` and ``usage`` (tokens
estimated from the text, about four characters a token), or an error object
``{"error": {"message", "type", "param", "code"}}`` with status 401, 400, 404,
429 (with ``Retry-After``), 500 or 503 as the model's :class:`ModelProfile`
decides. ``GET /v1/models`` lists the models. Phases are timed on the
provider's clock from its creation, so a test moves a model into its outage
by advancing a :class:`~toolkeeper.FakeClock`. Latency is real waiting.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from toolkeeper._clock import Clock, SystemClock
from toolkeeper.demo.profiles import ModelProfile, Plan, demo_profiles

__all__ = ["FakeProvider", "Received", "count_tokens"]

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: (
        "invalid_request_error",
        None,
        "The request body is not a valid chat completion request.",
    ),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please retry."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_SENTENCES = (
    "Here is a short answer to your question.",
    "The key point is to check the configuration before changing the code.",
    "In most cases the default settings are a good place to start.",
    "If the problem persists, collect the logs and compare them with a working setup.",
    "A second option trades a little latency for a simpler design.",
    "Measure before and after the change so the improvement is visible.",
    "Keep the change small and reversible until it has proved itself.",
    "Let me know if you would like a more detailed walkthrough.",
)


def count_tokens(text: str) -> int:
    """Estimate the tokens of ``text``: about four characters each, at least one."""
    return max(1, round(len(text) / 4))


@dataclass(frozen=True, slots=True)
class Received:
    """One request the provider answered: the model asked for, the status, the phase, the auth."""

    model: str
    status: int
    phase: str
    authorized: bool


class FakeProvider:
    """The ASGI app (:attr:`app`) of a fake OpenAI-compatible provider.

    With ``api_key`` set, requests must carry ``Authorization: Bearer <api_key>``
    or get 401. ``seed`` makes latencies and errors repeatable. :attr:`received`
    keeps the last ``history`` requests, newest last.
    """

    def __init__(
        self,
        profiles: Mapping[str, ModelProfile] | None = None,
        *,
        api_key: str | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        history: int = 1000,
    ) -> None:
        self.profiles = dict(demo_profiles() if profiles is None else profiles)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.received: deque[Received] = deque(maxlen=history)
        self._expected = None if api_key is None else f"Bearer {api_key}".encode()
        self._rng = random.Random(seed)  # noqa: S311 - simulated traffic, not cryptography
        self._started = self.clock.monotonic()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def elapsed(self) -> float:
        """Return the seconds since the provider started, on its clock."""
        return self.clock.monotonic() - self._started

    def phase(self, model: str) -> str:
        """Return the phase ``model`` is in now: ``normal`` or a phase's name."""
        phase = self.profiles[model].phase_at(self.elapsed())
        return "normal" if phase is None else phase.name

    async def _chat_completions(self, request: Request) -> JSONResponse:
        authorized = self._authorized(request)
        body = await _json_object(request)
        model = None if body is None else body.get("model")
        messages = None if body is None else body.get("messages")
        name = model if isinstance(model, str) else "?"
        if not authorized:
            return self._answer(name, Plan(0.0, 401, "-"), authorized)
        if body is None or not isinstance(model, str) or not _valid_messages(messages):
            return self._answer(name, Plan(0.0, 400, "-"), authorized)
        profile = self.profiles.get(model)
        if profile is None:
            return self._answer(model, Plan(0.0, 404, "-"), authorized)
        plan = profile.plan(self.elapsed(), self._rng)
        await asyncio.sleep(plan.latency_s)
        if plan.status != 200:
            return self._answer(model, plan, authorized)
        self.received.append(Received(model, 200, plan.phase, authorized))
        return JSONResponse(self._completion(model, messages, body.get("max_tokens")))

    async def _models(self, _request: Request) -> JSONResponse:
        created = int(self.clock.now().timestamp())
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "toolkeeper-demo"}
            for name in sorted(self.profiles)
        ]
        return JSONResponse({"object": "list", "data": data})

    def _authorized(self, request: Request) -> bool:
        if self._expected is None:
            return True
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, self._expected)

    def _answer(self, model: str, plan: Plan, authorized: bool) -> JSONResponse:
        self.received.append(Received(model, plan.status, plan.phase, authorized))
        kind, code, message = _ERRORS.get(plan.status, _ERRORS[500])
        error = {"message": message, "type": kind, "param": None, "code": code}
        headers = {}
        if plan.retry_after_seconds is not None:
            headers["Retry-After"] = str(plan.retry_after_seconds)
            headers["x-ratelimit-remaining-requests"] = "0"
        return JSONResponse({"error": error}, status_code=plan.status, headers=headers)

    def _completion(
        self, model: str, messages: list[dict[str, Any]], max_tokens: object
    ) -> dict[str, Any]:
        prompt = " ".join(str(m.get("content", "")) for m in messages)
        prompt_tokens = sum(3 + count_tokens(str(m.get("content", ""))) for m in messages) + 3
        words = 25 + min(len(prompt.split()), 160) // 2 + self._rng.randint(0, 60)
        text, finish = self._text(words), "stop"
        if isinstance(max_tokens, int) and max_tokens > 0 and count_tokens(text) > max_tokens:
            text, finish = text[: max_tokens * 4].rsplit(" ", 1)[0], "length"
        completion_tokens = count_tokens(text)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(self.clock.now().timestamp()),
            "model": model,
            "system_fingerprint": "fp_toolkeeper_demo",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _text(self, words: int) -> str:
        sentences: list[str] = []
        while words > 0:
            sentence = self._rng.choice(_SENTENCES)
            sentences.append(sentence)
            words -= len(sentence.split())
        return " ".join(sentences)

    def __repr__(self) -> str:
        return f"FakeProvider(models={sorted(self.profiles)!r})"


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _valid_messages(messages: object) -> TypeGuard[list[dict[str, Any]]]:
    return (
        isinstance(messages, list)
        and bool(messages)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    )
