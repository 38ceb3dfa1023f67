"""Cross-origin isolation headers on every response.

onnxruntime-web runs wasm with threads only when the page is cross-origin isolated, and a page is isolated only when
the document *and* everything it loads carry these headers; so they go on every response, not just `/`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ISOLATION_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-embedder-policy", b"require-corp"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class CrossOriginIsolationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in ISOLATION_HEADERS if name not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
