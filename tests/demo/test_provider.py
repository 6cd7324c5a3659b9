"""The fake provider over real HTTP: OpenAI's wire format, errors per profile, scripted phases."""

from __future__ import annotations

import json
import random
import threading

import httpx
import pytest

from toolkeeper import FakeClock
from toolkeeper.demo import (
    FakeProvider,
    LoopbackServer,
    ModelProfile,
    Phase,
    count_tokens,
    demo_profiles,
)

from .conftest import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}
HELLO = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello to the new operator."},
]


def post(base_url: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST a chat completion request as raw JSON."""
    return httpx.post(
        f"{base_url}/chat/completions", content=json.dumps(body), headers=headers or AUTH
    )


def test_a_completion_has_the_fields_of_openais_wire_format(base_url: str) -> None:
    """id, object, created, model, choices and usage, with tokens derived from the text."""
    response = post(base_url, {"model": "gpt-4o", "messages": HELLO})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = json.loads(response.text)
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o"
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert isinstance(content, str)
    assert content
    usage = body["usage"]
    expected_prompt = sum(3 + count_tokens(m["content"]) for m in HELLO) + 3
    assert usage["prompt_tokens"] == expected_prompt
    assert usage["completion_tokens"] == count_tokens(content)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_cuts_the_answer_with_finish_reason_length(base_url: str) -> None:
    """A small ``max_tokens`` truncates the completion and says so."""
    body = post(base_url, {"model": "gpt-4o", "messages": HELLO, "max_tokens": 5}).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] <= 5


def test_a_rate_limited_model_answers_429_with_retry_after(provider_clock: FakeClock) -> None:
    """A profile that rate-limits every call answers 429, Retry-After and OpenAI's error body."""
    profiles = {"m": ModelProfile(latency_ms=1, rate_limit_rate=1.0, retry_after_seconds=3)}
    with LoopbackServer.start(FakeProvider(profiles, clock=provider_clock).app) as server:
        response = post(f"{server.url}/v1", {"model": "m", "messages": HELLO}, headers={})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert set(error) == {"message", "type", "param", "code"}


def test_a_failing_model_answers_500s_at_its_error_rate() -> None:
    """Error rate 1 answers 500 every time; error rate 0.3 about a third of the time."""
    profiles = {
        "broken": ModelProfile(latency_ms=1, error_rate=1.0),
        "flaky": ModelProfile(latency_ms=0.1, error_rate=0.3),
    }
    with (
        LoopbackServer.start(FakeProvider(profiles, seed=3).app) as server,
        httpx.Client() as client,
    ):
        url = f"{server.url}/v1/chat/completions"
        broken = {client.post(url, json={"model": "broken", "messages": HELLO}).status_code
                  for _ in range(5)}  # fmt: skip
        flaky = [client.post(url, json={"model": "flaky", "messages": HELLO}).status_code
                 for _ in range(200)]  # fmt: skip
    assert broken == {500}
    assert 40 <= flaky.count(500) <= 80
    assert set(flaky) == {200, 500}


def test_during_the_outage_phase_every_call_to_that_model_fails(
    base_url: str, provider: FakeProvider, provider_clock: FakeClock
) -> None:
    """Moving the provider's clock into the strong model's outage fails all its calls, only its."""
    strong = {"model": "gpt-4o", "messages": HELLO}
    weak = {"model": "gpt-4o-mini", "messages": HELLO}
    assert provider.phase("gpt-4o") == "normal"
    provider_clock.advance(25)
    assert provider.phase("gpt-4o") == "outage"
    assert {post(base_url, strong).status_code for _ in range(10)} == {503}
    assert post(base_url, weak).status_code == 200
    provider_clock.advance(30)  # 55 s: the outage is over
    assert post(base_url, strong).status_code == 200
    provider_clock.advance(120)  # the next cycle, 175 s, is healthy at its 55th second too
    assert post(base_url, strong).status_code == 200
    provider_clock.advance(90)  # 265 s: 25 s into the third cycle, down again
    assert post(base_url, strong).status_code == 503
    assert [r.phase for r in list(provider.received)[-3:]] == ["normal", "normal", "outage"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"model": "gpt-4o", "messages": HELLO}, {}, 401, "invalid_api_key"),
        ({"model": "gpt-4o", "messages": HELLO}, {"Authorization": "Bearer nope"}, 401,
         "invalid_api_key"),
        ({"model": "gpt-5", "messages": HELLO}, AUTH, 404, "model_not_found"),
        ({"model": "gpt-4o", "messages": []}, AUTH, 400, None),
        (["not", "an", "object"], AUTH, 400, None),
    ],
)  # fmt: skip
def test_bad_requests_get_openais_error_statuses(
    base_url: str, body: object, headers: dict[str, str], status: int, code: str | None
) -> None:
    """No key or a wrong one: 401; an unknown model: 404; a malformed body: 400."""
    response = httpx.post(f"{base_url}/chat/completions", content=json.dumps(body), headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert KEY not in response.text


def test_the_models_are_listed(base_url: str) -> None:
    """``GET /v1/models`` lists the profiles' models in OpenAI's list format."""
    body = httpx.get(f"{base_url}/models", headers=AUTH).json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["gpt-4o", "gpt-4o-mini"]


def test_the_demo_strong_model_degrades_then_fails_then_recovers_each_cycle() -> None:
    """The demo's cycle: normal, degraded at 10 s, outage from 20 s to 50 s, normal again."""
    strong = demo_profiles()["gpt-4o"]
    phases = [strong.phase_at(t) for t in (5, 15, 25, 49.9, 50, 125, 145)]
    assert [p.name if p else "normal" for p in phases] == [
        "normal", "degraded", "outage", "outage", "normal", "normal", "outage",
    ]  # fmt: skip
    rng = random.Random(1)
    assert {strong.plan(30, rng).status for _ in range(50)} == {503}
    degraded = [strong.plan(15, rng) for _ in range(400)]
    assert 40 <= sum(p.status == 500 for p in degraded) <= 120
    assert strong.describe() == "every 120 s: degraded 10-20 s, outage 20-50 s, healthy otherwise"


def test_a_plan_is_repeatable_from_a_seed() -> None:
    """Two generators with the same seed plan the same latencies and statuses."""
    profile = demo_profiles()["gpt-4o"]
    first, second = random.Random(5), random.Random(5)
    assert [profile.plan(12.0, first) for _ in range(20)] == [
        profile.plan(12.0, second) for _ in range(20)
    ]


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda: Phase(name="p", start_s=5, end_s=5), "start_s < end_s"),
        (lambda: Phase(name="p", start_s=0, end_s=5, error_rate=2), "error_rate"),
        (lambda: ModelProfile(error_rate=0.7, rate_limit_rate=0.5), "must not exceed 1"),
        (lambda: ModelProfile(cycle_s=10, phases=(Phase(name="p", start_s=0, end_s=20),)),
         "ends after"),
    ],
)  # fmt: skip
def test_impossible_profiles_are_refused(build: object, problem: str) -> None:
    """Phases must be windows inside the cycle and rates must add up to at most one."""
    with pytest.raises(ValueError, match=problem):
        build()  # type: ignore[operator]


def test_the_server_stops_cleanly_and_frees_its_port() -> None:
    """After stop the thread is gone and nothing answers on the port."""
    before = {t.name for t in threading.enumerate()}
    server = LoopbackServer.start(FakeProvider(seed=1).app)
    url = server.url
    assert httpx.get(f"{url}/v1/models").status_code == 200
    server.stop()
    server.stop()  # idempotent
    assert {t.name for t in threading.enumerate()} == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/models")
