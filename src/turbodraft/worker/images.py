"""Init images in (base64, data URI or http(s) URL) and PNG data URIs out, with size limits; no torch.

Every failure is an :class:`~turbodraft.worker.schema.InputError` with a message for the client: a worker
must answer ``{"error": ...}`` for a bad image, never crash or hang on it.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import time
from dataclasses import dataclass

import httpx
from PIL import Image

from turbodraft.worker.schema import InputError

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,;]+)*;base64,(?P<data>.*)$", re.S)
_WHITESPACE = re.compile(rb"\s+")


@dataclass(frozen=True)
class ImageLimits:
    """How much an init image may cost to read: bytes on the wire, pixels decoded, seconds to fetch."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    fetch_timeout_s: float = 15.0
    max_redirects: int = 3

    @classmethod
    def from_env(cls) -> ImageLimits:
        """Defaults, overridden by ``TURBODRAFT_WORKER_MAX_IMAGE_BYTES`` / ``..._FETCH_TIMEOUT_S``."""
        defaults = cls()
        try:
            max_bytes = int(os.environ.get("TURBODRAFT_WORKER_MAX_IMAGE_BYTES", defaults.max_bytes))
            timeout = float(os.environ.get("TURBODRAFT_WORKER_FETCH_TIMEOUT_S", defaults.fetch_timeout_s))
        except ValueError as exc:
            raise RuntimeError(f"bad TURBODRAFT_WORKER_* image limit: {exc}") from exc
        return cls(max_bytes=max_bytes, fetch_timeout_s=timeout)


def decode_base64(text: str, limits: ImageLimits) -> bytes:
    """The bytes of raw base64 or a ``data:...;base64,`` URI, refusing more than ``limits.max_bytes``."""
    match = _DATA_URI.match(text)
    payload = (match.group("data") if match else text).encode("ascii", errors="replace")
    payload = _WHITESPACE.sub(b"", payload)
    # Check before decoding so a huge string is refused without allocating its decoded copy.
    if len(payload) * 3 // 4 > limits.max_bytes:
        raise InputError(f"init image is larger than {limits.max_bytes} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("init image is not valid base64") from exc


def fetch_url(url: str, limits: ImageLimits) -> bytes:
    """GET an http(s) URL with a timeout and a byte cap that holds even when Content-Length lies."""
    try:
        with (
            httpx.Client(
                timeout=limits.fetch_timeout_s, follow_redirects=True, max_redirects=limits.max_redirects
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise InputError(f"image_url answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
                raise InputError(f"image_url is larger than {limits.max_bytes} bytes")
            body = bytearray()
            # httpx's timeout is per read; a server dripping bytes needs an overall deadline too.
            deadline = time.monotonic() + limits.fetch_timeout_s
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limits.max_bytes:
                    raise InputError(f"image_url is larger than {limits.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("overall deadline passed")
            return bytes(body)
    except httpx.TimeoutException as exc:
        raise InputError(f"image_url timed out after {limits.fetch_timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise InputError(f"image_url could not be fetched: {type(exc).__name__}") from exc


def read_image_source(source: str, limits: ImageLimits) -> bytes:
    """The encoded image behind an ``image_url`` / ``init_image`` value."""
    lowered = source[:8].lower()
    if lowered.startswith(("http://", "https://")):
        return fetch_url(source, limits)
    if "://" in source[:16]:
        raise InputError("image URLs must be http or https")
    return decode_base64(source, limits)


def open_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """Decode PNG/JPEG/WebP bytes to RGB, refusing images with more than ``limits.max_pixels`` pixels."""
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "WEBP"])
    except (OSError, Image.DecompressionBombError) as exc:
        raise InputError("init image is not a PNG, JPEG or WebP image") from exc
    width, height = image.size
    # The header gives the size before any pixel is decoded, so a decompression bomb costs nothing.
    if width * height > limits.max_pixels:
        raise InputError(f"init image has {width}x{height} pixels, more than {limits.max_pixels}")
    try:
        return image.convert("RGB")
    except OSError as exc:
        raise InputError("init image is truncated or corrupt") from exc


def load_init_image(source: str, limits: ImageLimits) -> Image.Image:
    """An RGB init image from an ``image_url`` / ``init_image`` value, within the limits."""
    return open_image(read_image_source(source, limits), limits)


def png_data_uri(image: Image.Image) -> str:
    """``data:image/png;base64,...``: worker-sdxl's inline image format."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
