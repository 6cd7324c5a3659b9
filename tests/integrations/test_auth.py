"""Every auth type the schema accepts, sent by the chat client to a local server over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse

from toolkeeper import FakeClock
from toolkeeper.config.schema import ExternalToolConfig
from toolkeeper.demo import LoopbackServer
from toolkeeper.integrations.openai_compat import AsyncChatClient, ChatClient, ChatError

HELLO = [{"role": "user", "content": "Hello"}]
CLIENT_ID, CLIENT_SECRET = "toolkeeper-app", "cs-0123456789abcdef"
API_KEY = "sk-auth-0123456789abcdef"
TOKEN_LIFETIME = 600


@dataclass
class Upstream:
    """A token endpoint and a chat endpoint that record what they were sent."""

    tokens_issued: list[str] = field(default_factory=list)
    token_forms: list[dict[str, str]] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    seen: list[dict[str, Any]] = field(default_factory=list)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> FastAPI:
        """Return the ASGI app: POST /oauth/token and POST /v1/chat/completions."""
        app = FastAPI()

        @app.post("/oauth/token")
        async def token(
            request: Request, grant_type: str = Form(), scope: str | None = Form(None)
        ) -> JSONResponse:
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            self.token_forms.append({"grant_type": grant_type, "scope": scope or ""})
            value = f"tok-{next(self.counter)}"
            self.tokens_issued.append(value)
            self.valid_tokens.add(value)
            body = {"access_token": value, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}
            return JSONResponse(body)

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            auth = request.headers.get("authorization", "")
            self.seen.append({
                "authorization": auth,
                "api-key": request.headers.get("api-key"),
                "api-version": request.query_params.get("api-version"),
            })  # fmt: skip
            if auth.startswith("Bearer tok-") and auth.removeprefix("Bearer ") not in (
                self.valid_tokens
            ):
                return JSONResponse({"error": {"message": "token revoked"}}, status_code=401)
            body = await request.json()
            return JSONResponse({
                "object": "chat.completion", "model": body["model"],
                "choices": [{"message": {"role": "assistant", "content": "hi"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            })  # fmt: skip

        return app


@pytest.fixture
def upstream() -> Upstream:
    """Return a fresh recording upstream."""
    return Upstream()


@pytest.fixture
def base(upstream: Upstream) -> Iterator[str]:
    """Serve the upstream on loopback and return its base URL."""
    with LoopbackServer.start(upstream.app()) as server:
        yield server.url


def oauth(base: str, **fields: Any) -> ExternalToolConfig:
    """Return a tool configured for OAuth client credentials against ``base``."""
    return ExternalToolConfig(
        api_endpoint=f"{base}/v1", auth_type="oauth", oauth_client_id=CLIENT_ID,
        oauth_client_secret=CLIENT_SECRET, oauth_token_url=f"{base}/oauth/token", **fields,
    )  # fmt: skip


def test_bearer_sends_the_key_as_a_bearer_token(base: str, upstream: Upstream) -> None:
    """``auth_type = "bearer"`` sends ``Authorization: Bearer <key>`` and no api-key header."""
    config = ExternalToolConfig(api_endpoint=f"{base}/v1", api_key=API_KEY)
    with ChatClient(config) as client:
        client.chat(HELLO, model="m")
    assert upstream.seen == [
        {"authorization": f"Bearer {API_KEY}", "api-key": None, "api-version": None}
    ]


def test_api_key_and_api_version_are_sent_azure_style(base: str, upstream: Upstream) -> None:
    """``api_key`` goes in the ``api-key`` header and ``api_version`` in ``?api-version=``."""
    config = ExternalToolConfig(
        api_endpoint=f"{base}/v1", api_key=API_KEY, auth_type="api_key",
        api_version="2024-10-21",
    )  # fmt: skip
    with ChatClient(config) as client:
        client.chat(HELLO, model="m")
    assert upstream.seen == [{"authorization": "", "api-key": API_KEY, "api-version": "2024-10-21"}]


def test_basic_sends_username_and_password(base: str, upstream: Upstream) -> None:
    """``auth_type = "basic"`` sends HTTP basic credentials from ``username`` and ``password``."""
    config = ExternalToolConfig(
        api_endpoint=f"{base}/v1", auth_type="basic", username="ana", password="pw-0123456789"
    )
    with ChatClient(config) as client:
        client.chat(HELLO, model="m")
    expected = base64.b64encode(b"ana:pw-0123456789").decode()
    assert upstream.seen[0]["authorization"] == f"Basic {expected}"


def test_oauth_fetches_a_token_caches_it_and_refreshes_it_before_expiry(
    base: str, upstream: Upstream
) -> None:
    """One token serves calls until a minute before it expires; then a new one is fetched."""
    clock = FakeClock()
    with ChatClient(oauth(base, oauth_scope="chat.write"), clock=clock) as client:
        client.chat(HELLO, model="m")
        clock.advance(TOKEN_LIFETIME - 61)
        client.chat(HELLO, model="m")
        clock.advance(2)  # now 59 s before expiry: inside the refresh margin
        client.chat(HELLO, model="m")
    assert upstream.tokens_issued == ["tok-1", "tok-2"]
    assert [s["authorization"] for s in upstream.seen] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2",
    ]  # fmt: skip
    assert upstream.token_forms[0] == {"grant_type": "client_credentials", "scope": "chat.write"}


def test_oauth_fetches_a_new_token_when_the_cached_one_is_refused(
    base: str, upstream: Upstream
) -> None:
    """A 401 with a cached token fetches a new token and sends the request once more."""
    clock = FakeClock()
    with ChatClient(oauth(base), clock=clock) as client:
        client.chat(HELLO, model="m")
        upstream.valid_tokens.clear()  # revoked upstream
        completion = client.chat(HELLO, model="m")
    assert completion["object"] == "chat.completion"
    assert [s["authorization"] for s in upstream.seen] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2",
    ]  # fmt: skip


def test_oauth_refused_credentials_raise_without_the_secret(base: str) -> None:
    """A token endpoint refusing the client raises ChatError naming it, with no secret in it."""
    config = oauth(base).model_copy(update={"oauth_client_id": "someone-else"})
    with ChatClient(config) as client, pytest.raises(ChatError) as raised:
        client.chat(HELLO, model="m")
    message = str(raised.value)
    assert "/oauth/token failed with HTTP 401: invalid_client" in message
    assert raised.value.status_code == 401
    assert CLIENT_SECRET not in message
    assert CLIENT_SECRET not in repr(raised.value)


def test_oauth_works_from_asyncio_code(base: str, upstream: Upstream) -> None:
    """The async client fetches and reuses the token the same way."""

    async def two_calls() -> None:
        async with AsyncChatClient(oauth(base), clock=FakeClock()) as client:
            await client.chat(HELLO, model="m")
            await client.chat(HELLO, model="m")

    asyncio.run(two_calls())
    assert upstream.tokens_issued == ["tok-1"]
    assert [s["authorization"] for s in upstream.seen] == ["Bearer tok-1", "Bearer tok-1"]


def test_a_new_client_secret_at_runtime_gets_a_new_token(base: str, upstream: Upstream) -> None:
    """The client reads its configuration per call: changed credentials drop the cached token."""
    configs = [oauth(base)]
    with ChatClient(lambda: configs[-1], clock=FakeClock()) as client:
        client.chat(HELLO, model="m")
        configs.append(oauth(base, oauth_scope="other"))
        client.chat(HELLO, model="m")
    assert upstream.tokens_issued == ["tok-1", "tok-2"]
