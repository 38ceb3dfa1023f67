"""Helpers of the worker tests: PNGs in, data URIs out, local image server routes, a counting flag."""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass, field

from PIL import Image


def png_bytes(width: int = 64, height: int = 64, colour: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def as_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_data_uri_png(uri: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix) :], validate=True)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "image/png"
    #: Seconds to wait before answering, to test timeouts.
    delay_s: float = 0.0
    #: Send a Content-Length header (off: the body is sent until the connection closes).
    send_length: bool = True


@dataclass
class ImageServer:
    """A real HTTP server on 127.0.0.1 whose paths answer what a test registers."""

    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.base_url + path


class CancelAfterChecks(threading.Event):
    """A cancellation flag that reads as unset for its first ``checks`` looks and set after, counting them."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.remaining = checks
        self.looks = 0

    def is_set(self) -> bool:
        self.looks += 1
        self.remaining -= 1
        return self.remaining < 0 or super().is_set()
