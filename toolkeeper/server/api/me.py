"""``GET /api/v1/me``: who the caller is, and the CSRF token a signed-in page's scripts send."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from toolkeeper.server.auth import Authenticated
from toolkeeper.server.sessions import csrf_token
from toolkeeper.server.tokens import Role

__all__ = ["Me", "router"]

router = APIRouter(tags=["session"])


class Me(BaseModel):
    """The caller: the token's name and role, and how it was presented."""

    name: str
    role: Role
    via: Literal["bearer", "session"]
    csrf_token: str | None = Field(
        description="For a session: send it as X-CSRF-Token on requests that change state."
    )


@router.get("/me", response_model=Me, summary="The caller")
def me(request: Request, principal: Authenticated) -> Me:
    """Return the caller's name and role (and, in a browser session, its CSRF token)."""
    token = csrf_token(request) if principal.via == "session" else None
    return Me(name=principal.name, role=principal.role, via=principal.via, csrf_token=token)
