"""Normalise what RunPod image workers return into image bytes.

Workers disagree on the shape of their output:

- runpod-workers/worker-sdxl: ``{"images": [data URI or URL, ...], "image_url": first, "seed": n}``
- worker-comfyui v5: ``{"images": [{"filename", "type": "base64" | "s3_url", "data"}], "errors"?: [...]}``
  (older versions: ``{"message": base64 or URL, "status": "success"}``)
- others: a bare string (base64, data URI or URL), ``{"image": ...}``, ``{"url": ...}``, or a list of those.

:func:`parse_output` turns any of these into :class:`ImageRef` values without I/O; :func:`normalize_output`
also fetches URL references (size-limited, content-type checked) so callers always get bytes and a MIME type.
Anything else raises :class:`OutputFormatError`, never a bare ``KeyError``/``binascii.Error``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

#: Default cap for one image, inline or fetched: a 2048x2048 PNG is well under this.
DEFAULT_MAX_IMAGE_BYTES = 32 * 1024 * 1024

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(;[^,;]+)*?;base64,(?P<data>.*)$", re.S)
_WHITESPACE = re.compile(r"\s+")


class OutputError(Exception):
    """Base of the errors raised while turning a worker's output into an image."""


class OutputFormatError(OutputError):
    """The output does not match any known worker format, or its image data is not a PNG/JPEG/WebP."""


class OutputFetchError(OutputError):
    """An image URL in the output could not be fetched within the limits (status, type, size, network)."""


def sniff_image_mime(data: bytes) -> str | None:
    """The MIME type from the file signature; the declared type of a data URI or response is not trusted."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class ImageRef:
    """One image named by an output: inline bytes (``data``) or a URL still to fetch (``url``)."""

    data: bytes | None = None
    url: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class ParsedOutput:
    """The image references of one output, in order, and the seed when the worker reported one."""

    refs: tuple[ImageRef, ...]
    seed: int | None = None


@dataclass(frozen=True)
class OutputImage:
    """One decoded image: its bytes, sniffed MIME type, and where it came from."""

    data: bytes
    mime: str
    source_url: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class NormalizedOutput:
    """Every image of an output (at least one) and the seed when known."""

    images: tuple[OutputImage, ...]
    seed: int | None = None

    @property
    def first(self) -> OutputImage:
        return self.images[0]


def _decode_base64(text: str, *, max_bytes: int) -> bytes:
    compact = _WHITESPACE.sub("", text)
    if not compact:
        raise OutputFormatError("empty base64 image data")
    # 4 base64 characters make 3 bytes; refuse oversize data before decoding it.
    if len(compact) // 4 * 3 > max_bytes + 3:
        raise OutputFormatError(f"inline image larger than {max_bytes} bytes")
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.b64decode(compact, altchars=b"-_", validate=True)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OutputFormatError(f"invalid base64 image data: {exc}") from exc


def _checked_image(data: bytes, *, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise OutputFormatError(f"inline image larger than {max_bytes} bytes")
    if sniff_image_mime(data) is None:
        raise OutputFormatError("image data is not a PNG, JPEG or WebP file")
    return data


def _ref_from_string(value: str, *, max_bytes: int, filename: str | None = None) -> ImageRef:
    text = value.strip()
    if text.startswith(("http://", "https://")):
        return ImageRef(url=text, filename=filename)
    if text.startswith("data:"):
        match = _DATA_URI.match(text)
        if match is None:
            raise OutputFormatError("data URI is not base64-encoded")
        data = _decode_base64(match["data"], max_bytes=max_bytes)
        return ImageRef(data=_checked_image(data, max_bytes=max_bytes), filename=filename)
    if "://" in text[:16]:
        raise OutputFormatError(f"unsupported URL scheme in {text[:32]!r}")
    data = _decode_base64(text, max_bytes=max_bytes)
    return ImageRef(data=_checked_image(data, max_bytes=max_bytes), filename=filename)


def _comfyui_ref(item: dict[str, object], *, max_bytes: int) -> ImageRef:
    kind, data = item.get("type"), item.get("data")
    filename = item.get("filename")
    name = filename if isinstance(filename, str) else None
    if not isinstance(data, str):
        raise OutputFormatError("worker-comfyui image without string 'data'")
    if kind == "base64":
        if data.startswith(("http://", "https://")):
            raise OutputFormatError("worker-comfyui image of type base64 holds a URL")
        return _ref_from_string(data, max_bytes=max_bytes, filename=name)
    if kind == "s3_url":
        if not data.startswith(("http://", "https://")):
            raise OutputFormatError("worker-comfyui image of type s3_url holds no http(s) URL")
        return ImageRef(url=data, filename=name)
    raise OutputFormatError(f"worker-comfyui image of unknown type {kind!r}")


def _refs_from_item(item: object, *, max_bytes: int, depth: int) -> list[ImageRef]:
    if isinstance(item, str):
        return [_ref_from_string(item, max_bytes=max_bytes)]
    if isinstance(item, dict):
        if "data" in item and "type" in item:
            return [_comfyui_ref(item, max_bytes=max_bytes)]
        return list(_parse(item, max_bytes=max_bytes, depth=depth + 1).refs)
    if isinstance(item, list):
        return list(_parse(item, max_bytes=max_bytes, depth=depth + 1).refs)
    raise OutputFormatError(f"image entry of type {type(item).__name__} is neither a string nor an object")


def _seed_of(output: dict[str, object]) -> int | None:
    seed = output.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _comfyui_errors(output: dict[str, object]) -> str | None:
    errors = output.get("errors")
    if not errors:
        return None
    if isinstance(errors, list):
        return "; ".join(str(error) for error in errors)
    return str(errors)


def _parse(output: object, *, max_bytes: int, depth: int) -> ParsedOutput:
    # Lists of lists are legal JSON but no worker nests deeper than this; the bound keeps recursion finite.
    if depth > 3:
        raise OutputFormatError("output nested too deeply")
    if output is None:
        raise OutputFormatError("the job returned no output")
    if isinstance(output, str):
        return ParsedOutput((_ref_from_string(output, max_bytes=max_bytes),))
    if isinstance(output, list):
        if not output:
            raise OutputFormatError("the output is an empty list")
        refs = [ref for item in output for ref in _refs_from_item(item, max_bytes=max_bytes, depth=depth)]
        return ParsedOutput(tuple(refs))
    if not isinstance(output, dict):
        raise OutputFormatError(f"output of type {type(output).__name__} holds no image")
    if isinstance(output.get("error"), str) and output["error"]:
        raise OutputFormatError(f"the worker reported an error: {output['error']}")
    seed = _seed_of(output)
    images = output.get("images")
    if images is not None:
        if not isinstance(images, list):
            raise OutputFormatError("'images' is not a list")
        if not images:
            errors = _comfyui_errors(output)
            raise OutputFormatError(f"the worker returned no images{': ' + errors if errors else ''}")
        refs = [ref for item in images for ref in _refs_from_item(item, max_bytes=max_bytes, depth=depth)]
        return ParsedOutput(tuple(refs), seed)
    errors = _comfyui_errors(output)
    if errors:
        raise OutputFormatError(f"the worker returned errors: {errors}")
    for key in ("image_url", "image", "url", "message"):
        value = output.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise OutputFormatError(f"'{key}' is not a string")
            return ParsedOutput((_ref_from_string(value, max_bytes=max_bytes),), seed)
    keys = ", ".join(sorted(str(key) for key in output)) or "none"
    raise OutputFormatError(f"no image in the output (keys: {keys})")


def parse_output(output: object, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> ParsedOutput:
    """The image references of a worker's output, without fetching URLs. Raises :class:`OutputFormatError`."""
    parsed = _parse(output, max_bytes=max_bytes, depth=0)
    if not parsed.refs:
        raise OutputFormatError("the output holds no image")
    return parsed


_FETCHABLE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "application/octet-stream", "binary/octet-stream"}
)


async def fetch_image(
    http: httpx.AsyncClient, url: str, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> bytes:
    """GET an image URL, refusing non-image content types and bodies over ``max_bytes`` as it streams."""
    try:
        async with http.stream("GET", url, headers={"Accept": "image/*"}) as response:
            if response.status_code != 200:
                raise OutputFetchError(f"GET {url} answered HTTP {response.status_code}")
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type and content_type not in _FETCHABLE_TYPES:
                raise OutputFetchError(f"GET {url} returned {content_type!r}, not an image")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise OutputFetchError(f"GET {url}: {declared} bytes is over the {max_bytes} byte limit")
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise OutputFetchError(f"GET {url}: body over the {max_bytes} byte limit")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise OutputFetchError(f"GET {url} failed: {exc!r}") from exc
    data = b"".join(chunks)
    if sniff_image_mime(data) is None:
        raise OutputFetchError(f"GET {url} returned data that is not a PNG, JPEG or WebP file")
    return data


async def resolve_refs(
    refs: Sequence[ImageRef], http: httpx.AsyncClient, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> tuple[OutputImage, ...]:
    """Bytes for every reference, fetching the URL ones in order."""
    images: list[OutputImage] = []
    for ref in refs:
        if ref.data is not None:
            data, source = ref.data, None
        elif ref.url is not None:
            data, source = await fetch_image(http, ref.url, max_bytes=max_bytes), ref.url
        else:
            raise OutputFormatError("image reference with neither data nor URL")
        mime = sniff_image_mime(data)
        if mime is None:
            raise OutputFormatError("image data is not a PNG, JPEG or WebP file")
        images.append(OutputImage(data=data, mime=mime, source_url=source, filename=ref.filename))
    return tuple(images)


async def normalize_output(
    output: object, http: httpx.AsyncClient, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> NormalizedOutput:
    """Images as bytes from any supported worker output. Raises :class:`OutputError` subclasses only."""
    parsed = parse_output(output, max_bytes=max_bytes)
    images = await resolve_refs(parsed.refs, http, max_bytes=max_bytes)
    return NormalizedOutput(images=images, seed=parsed.seed)
