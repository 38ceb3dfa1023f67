"""Init images come as base64, data URIs or http(s) URLs, each size-limited and failing with a message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.worker.support import ImageServer, Route, as_base64, png_bytes
from turbodraft.worker.handler import handle
from turbodraft.worker.images import ImageLimits, load_init_image
from turbodraft.worker.pipeline import Pipelines
from turbodraft.worker.settings import ModelSettings

LIMITS = ImageLimits(max_bytes=64 * 1024, max_pixels=512 * 512, fetch_timeout_s=1.0)


@pytest.fixture(autouse=True)
def no_model_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(settings: ModelSettings) -> Pipelines:
        raise AssertionError("bad input reached the model")

    monkeypatch.setattr("turbodraft.worker.handler.get_pipelines", refuse)


def img2img_error(source: str, **env: str) -> str:
    output: dict[str, Any] = handle(
        {"prompt": "a fox", "width": 64, "height": 64, "steps": 4, "strength": 0.5, "image_url": source}
    )
    assert set(output) == {"error"}, output
    message: str = output["error"]
    return message


def test_raw_base64_and_data_uri_decode_to_the_same_image() -> None:
    data = png_bytes(32, 16)
    raw = load_init_image(as_base64(data), LIMITS)
    uri = load_init_image("data:image/png;base64," + as_base64(data), LIMITS)
    assert raw.size == uri.size == (32, 16)
    assert raw.mode == "RGB"
    assert raw.tobytes() == uri.tobytes()


def test_url_is_fetched(image_server: ImageServer) -> None:
    url = image_server.url("/draft.png", Route(body=png_bytes(48, 40)))
    assert load_init_image(url, LIMITS).size == (48, 40)


def test_invalid_base64_is_an_error() -> None:
    assert img2img_error("not base64 at all!") == "init image is not valid base64"


def test_bytes_that_are_not_an_image_are_an_error() -> None:
    assert "not a PNG, JPEG or WebP" in img2img_error(as_base64(b"GIF89a" + b"\0" * 64))


def test_truncated_png_is_an_error() -> None:
    assert "truncated or corrupt" in img2img_error(as_base64(png_bytes(256, 256)[:-40]))


def test_too_many_pixels_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    message = img2img_error(as_base64(png_bytes(4100, 4100, (0, 0, 0))))
    assert "4100x4100 pixels" in message


def test_base64_over_the_byte_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_WORKER_MAX_IMAGE_BYTES", "1000")
    assert "larger than 1000 bytes" in img2img_error(as_base64(b"\0" * 2000))


def test_url_over_the_declared_size_is_refused(
    image_server: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURBODRAFT_WORKER_MAX_IMAGE_BYTES", "1000")
    url = image_server.url("/big.png", Route(body=b"\0" * 5000))
    assert img2img_error(url) == "image_url is larger than 1000 bytes"


def test_url_without_a_length_is_cut_off_at_the_limit(
    image_server: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURBODRAFT_WORKER_MAX_IMAGE_BYTES", "1000")
    url = image_server.url("/stream.png", Route(body=b"\0" * 200_000, send_length=False))
    assert img2img_error(url) == "image_url is larger than 1000 bytes"


def test_url_error_status_is_reported(image_server: ImageServer) -> None:
    assert img2img_error(image_server.base_url + "/missing.png") == "image_url answered HTTP 404"


def test_slow_url_times_out(image_server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_WORKER_FETCH_TIMEOUT_S", "0.3")
    url = image_server.url("/slow.png", Route(body=png_bytes(), delay_s=5))
    assert img2img_error(url) == "image_url timed out after 0.3 s"


def test_unreachable_url_is_an_error(image_server: ImageServer) -> None:
    # Port 9 (discard) has no listener here: the connection is refused at once.
    assert "could not be fetched: ConnectError" in img2img_error("http://127.0.0.1:9/x.png")


def test_other_url_schemes_are_refused() -> None:
    assert img2img_error("file:///etc/passwd") == "image URLs must be http or https"
