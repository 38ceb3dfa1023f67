"""FastAPI dependencies shared by the API routers.

All `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request each.
"""

from __future__ import annotations

from fastapi import Request

from turbodraft.gateway.errors import ApiError
from turbodraft.gateway.security import header_user
from turbodraft.gateway.services import Services


async def services(request: Request) -> Services:
    found: Services | None = getattr(request.app.state, "services", None)
    if found is None:
        raise ApiError(503, "starting", "the gateway is starting or stopping; retry shortly")
    return found


async def user(request: Request) -> str:
    """The X-User-Id user (subject to the token's binding), for reads: not counted against the rate limit."""
    return header_user(request)


async def counted_user(request: Request) -> str:
    """The X-User-Id user, after counting this request against their rate limit."""
    user_id = header_user(request)
    (await services(request)).limiter.check(user_id)
    return user_id
