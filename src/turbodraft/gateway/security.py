"""Who may call the API and how much: bearer tokens, per-user rate limits, and a cap on request bodies.

- Tokens: when `api_tokens` is configured every API route needs `Authorization: Bearer <token>` (the bind
  guard in binding.py makes that mandatory off loopback). `/health`, `/docs`, the web app and the model
  files stay open: they hold nothing a token protects.
- Users: `X-User-Id` names the user a request spends for (budgets, rate limits, the ledger); the legacy
  API's `user_id` body field does the same there. Absent, the user is "anonymous". A token written
  `<user>:<secret>` is bound to that user: requests made with it spend as that user, and naming another
  user is refused (403), so a token holder cannot dodge their budget by changing the header. A token with no
  `user:` prefix is a service token (e.g. the canvas app's orchestrator) trusted to name its users.
- Ownership: jobs, images, usage rows and cost figures belong to the user who made them; the API answers
  another user as if the id did not exist (404, the same body). Gateway-wide figures (`?scope=all`) need a
  service token; a gateway without tokens (loopback only) trusts its callers as its operator.
- Rate limits: a moving window of `rate_limit_per_minute` requests per user over the endpoints that create
  work or records (POSTs); reads and long-polls are not counted, so polling a job cannot lock a user out.
- Bodies: over `max_body_bytes` is refused with 413 from the Content-Length alone, or as soon as a chunked
  body crosses the limit, before the route parses anything.
"""

from __future__ import annotations

import hmac
import math
import re
import time

from fastapi import HTTPException, Request
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from turbodraft.gateway.errors import ApiError, error_response

USER_HEADER = "x-user-id"
ANONYMOUS = "anonymous"
USER_ID_PATTERN = r"^[A-Za-z0-9._@:-]{1,128}$"
_USER_ID = re.compile(USER_ID_PATTERN)


# --- tokens ----------------------------------------------------------------------------------------------


#: What a request's token allows: any token when auth is off (None), or the user it is bound to ("" = unbound).
_NO_AUTH = None


def bound_user(token: SecretStr) -> str:
    """The user a `<user>:<secret>` token is bound to, or "" for an unbound service token."""
    user, sep, _ = token.get_secret_value().partition(":")
    return user if sep and _USER_ID.match(user) else ""


def accepted_token(authorization: str | None, tokens: list[SecretStr]) -> SecretStr | None:
    """The configured token the request presents, or None."""
    if authorization is None:
        return None
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    candidate = presented.strip().encode()
    # Compare against every token in constant time, so timing does not reveal which prefix matched.
    matches = [hmac.compare_digest(candidate, t.get_secret_value().encode()) for t in tokens]
    return next((t for t, ok in zip(tokens, matches, strict=True) if ok), None)


def token_accepted(authorization: str | None, tokens: list[SecretStr]) -> bool:
    return not tokens or accepted_token(authorization, tokens) is not None


async def require_token(request: Request) -> None:
    """Dependency of every API route; remembers which user the token is bound to for `resolve_user`."""
    tokens: list[SecretStr] = request.app.state.settings.api_tokens
    request.state.token_user = _NO_AUTH
    if not tokens:
        return
    token = accepted_token(request.headers.get("authorization"), tokens)
    if token is not None:
        request.state.token_user = bound_user(token)
    else:
        raise ApiError(
            401,
            "unauthorized",
            "this gateway needs an API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


# --- users -----------------------------------------------------------------------------------------------


def check_user_id(user_id: str) -> str:
    if not _USER_ID.match(user_id):
        raise ApiError(
            400,
            "invalid_user",
            "a user id is 1 to 128 characters of letters, digits and . _ @ : -",
            {"pattern": USER_ID_PATTERN},
        )
    return user_id


def resolve_user(request: Request, claimed: str | None) -> str:
    """The user a request spends for: its token's bound user, else the one it names, else "anonymous"."""
    bound: str | None = getattr(request.state, "token_user", _NO_AUTH)
    if bound:
        if claimed is not None and claimed != bound:
            raise ApiError(403, "wrong_user", f"this token belongs to user {bound!r}; it cannot act for {claimed!r}")
        return bound
    return check_user_id(claimed or ANONYMOUS)


def header_user(request: Request) -> str:
    """The user named by `X-User-Id`, subject to the token's binding (see `resolve_user`)."""
    return resolve_user(request, request.headers.get(USER_HEADER))


def sees_everything(request: Request) -> bool:
    """Whether the caller may read gateway-wide figures: a service token, or any caller when auth is off."""
    bound: str | None = getattr(request.state, "token_user", _NO_AUTH)
    return not bound


def check_scope(request: Request, scope: str) -> bool:
    """True for `scope=all` (gateway-wide), False for the caller's own figures; 403 when not allowed."""
    if scope != "all":
        return False
    if not sees_everything(request):
        raise ApiError(403, "forbidden", "gateway-wide figures (scope=all) need a service token")
    return True


# --- rate limits -----------------------------------------------------------------------------------------


class RateLimiter:
    """`per_minute` requests per user in any 60 s window; 0 turns the limit off."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, user_id: str) -> None:
        if self._item is None:
            return
        if self._limiter.hit(self._item, "user", user_id):
            return
        reset_at = self._limiter.get_window_stats(self._item, "user", user_id).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise ApiError(
            429,
            "rate_limited",
            f"user {user_id!r} made more than {self.per_minute} requests in a minute; "
            f"retry in {retry_after} s",
            {"limit_per_minute": self.per_minute, "retry_after_s": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


# --- request bodies --------------------------------------------------------------------------------------


class _BodyTooLarge(HTTPException):
    """Raised from inside `receive`: FastAPI re-raises HTTPExceptions from body parsing, so the error
    handlers turn it into the usual 413 body when a route was reading."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class BodyLimitMiddleware:
    """413 for a body over `max_bytes`, whether declared (Content-Length) or streamed (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self) -> str:
        return f"request body is larger than the {self.max_bytes}-byte limit (max_body_bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await error_response(413, "body_too_large", self._refusal())(scope, receive, send)
                    return
                break

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self._refusal())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await error_response(413, "body_too_large", self._refusal())(scope, receive, send)
