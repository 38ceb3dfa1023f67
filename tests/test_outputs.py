"""Worker outputs of every known shape become image bytes; malformed ones become typed errors."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from turbodraft.providers.handlers import tiny_png
from turbodraft.providers.outputs import (
    OutputFetchError,
    OutputFormatError,
    normalize_output,
    parse_output,
)
from turbodraft.providers.runpod_local import serving_in_thread

PNG = tiny_png(1)
PNG_B64 = base64.b64encode(PNG).decode()
PNG_URI = f"data:image/png;base64,{PNG_B64}"


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def image_route(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind == "png":
        return Response(PNG, media_type="image/png")
    if kind == "octet":
        return Response(PNG, media_type="application/octet-stream")
    if kind == "html":
        return Response(b"<html></html>", media_type="text/html")
    if kind == "huge":
        return Response(PNG + b"\0" * 5000, media_type="image/png")
    if kind == "not-an-image":
        return Response(b"GIF89a....", media_type="image/png")
    return Response(status_code=404)


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    with serving_in_thread(Starlette(routes=[Route("/img/{kind}", image_route)])) as origin:
        yield origin


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_worker_sdxl_output_gives_every_image_and_the_seed(http: httpx.AsyncClient) -> None:
    jpeg_uri = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
    output = {"images": [PNG_URI, jpeg_uri], "image_url": PNG_URI, "seed": 42}
    result = await normalize_output(output, http)
    assert [image.mime for image in result.images] == ["image/png", "image/jpeg"]
    assert result.first.data == PNG
    assert result.seed == 42


async def test_worker_sdxl_output_with_s3_urls_is_fetched(http: httpx.AsyncClient, image_server: str) -> None:
    url = f"{image_server}/img/png"
    result = await normalize_output({"images": [url], "image_url": url, "seed": 1}, http)
    assert result.first.data == PNG
    assert result.first.source_url == url


async def test_worker_comfyui_base64_images_keep_their_filenames(http: httpx.AsyncClient) -> None:
    output = {"images": [{"filename": "ComfyUI_0001.png", "type": "base64", "data": PNG_B64}]}
    result = await normalize_output(output, http)
    assert result.first.data == PNG
    assert result.first.filename == "ComfyUI_0001.png"


async def test_worker_comfyui_s3_url_images_are_fetched(http: httpx.AsyncClient, image_server: str) -> None:
    output = {"images": [{"filename": "a.png", "type": "s3_url", "data": f"{image_server}/img/png"}]}
    assert (await normalize_output(output, http)).first.data == PNG


async def test_worker_comfyui_errors_without_images_are_a_format_error() -> None:
    with pytest.raises(OutputFormatError, match="node 4 failed"):
        parse_output({"images": [], "errors": ["node 4 failed"]})


async def test_worker_comfyui_errors_beside_images_do_not_hide_the_images() -> None:
    parsed = parse_output({"images": [{"type": "base64", "data": PNG_B64}], "errors": ["warning"]})
    assert parsed.refs[0].data == PNG


def test_old_worker_comfyui_message_output_is_read() -> None:
    assert parse_output({"message": PNG_B64, "status": "success"}).refs[0].data == PNG


@pytest.mark.parametrize("output", [PNG_B64, PNG_URI, f"  {PNG_B64}\n"], ids=["base64", "data-uri", "padded"])
def test_a_bare_string_output_is_decoded(output: str) -> None:
    assert parse_output(output).refs[0].data == PNG


def test_url_safe_base64_without_padding_is_decoded() -> None:
    encoded = base64.urlsafe_b64encode(PNG).decode().rstrip("=")
    assert parse_output(encoded).refs[0].data == PNG


async def test_a_bare_url_output_is_fetched(http: httpx.AsyncClient, image_server: str) -> None:
    assert (await normalize_output(f"{image_server}/img/png", http)).first.data == PNG


@pytest.mark.parametrize("key", ["image", "url", "image_url"])
def test_single_image_keys_are_read(key: str) -> None:
    assert parse_output({key: PNG_URI}).refs[0].data == PNG


def test_a_list_output_gives_every_image() -> None:
    parsed = parse_output([PNG_URI, {"image": PNG_B64}])
    assert [ref.data for ref in parsed.refs] == [PNG, PNG]


async def test_an_octet_stream_response_is_accepted_by_its_signature(
    http: httpx.AsyncClient, image_server: str
) -> None:
    assert (await normalize_output(f"{image_server}/img/octet", http)).first.mime == "image/png"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (None, "no output"),
        (42, "holds no image"),
        ([], "empty list"),
        ({}, "no image"),
        ({"images": "x"}, "not a list"),
        ({"images": [3]}, "neither a string nor an object"),
        ({"images": ["data:image/png;base64,@@@"]}, "invalid base64"),
        ({"images": ["data:image/png,rawtext"]}, "not base64-encoded"),
        ({"image": base64.b64encode(b"hello world").decode()}, "not a PNG"),
        ({"image": 12}, "not a string"),
        ({"images": [{"type": "zip", "data": "x"}]}, "unknown type"),
        ({"images": [{"type": "s3_url", "data": "s3://bucket/key"}]}, "no http"),
        ({"images": [{"type": "base64", "data": 5}]}, "without string 'data'"),
        ("ftp://example.com/a.png", "unsupported URL scheme"),
        ({"error": "CUDA out of memory"}, "CUDA out of memory"),
        ([[[[[PNG_URI]]]]], "nested too deeply"),
    ],
)
def test_malformed_outputs_raise_a_format_error(output: object, message: str) -> None:
    with pytest.raises(OutputFormatError, match=message):
        parse_output(output)


def test_inline_images_over_the_limit_are_refused() -> None:
    with pytest.raises(OutputFormatError, match="larger than"):
        parse_output(PNG_URI, max_bytes=10)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("html", "not an image"),
        ("missing", "HTTP 404"),
        ("huge", "byte limit"),
        ("not-an-image", "not a PNG"),
    ],
)
async def test_bad_image_urls_raise_a_fetch_error(
    http: httpx.AsyncClient, image_server: str, kind: str, message: str
) -> None:
    with pytest.raises(OutputFetchError, match=message):
        await normalize_output(f"{image_server}/img/{kind}", http, max_bytes=len(PNG) + 100)


async def test_an_unreachable_image_url_raises_a_fetch_error(http: httpx.AsyncClient) -> None:
    with pytest.raises(OutputFetchError, match="failed"):
        await normalize_output("http://127.0.0.1:9/a.png", http)
