"""The gateway's frame: health, the web app at `/`, cross-origin isolation headers."""

from __future__ import annotations

import httpx

from turbodraft import __version__


def test_health_answers_json_with_status_version_and_uptime(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["uptime_s"] >= 0


def test_web_app_is_served_at_root_with_isolation_headers(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "<html" in response.text.lower()
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"


def test_api_responses_carry_isolation_headers_too(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"


def test_openapi_is_published_at_docs(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "turbodraft gateway"
