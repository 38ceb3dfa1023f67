"""Property-based run of the published OpenAPI spec: no input makes the gateway answer 5xx, and every 4xx
carries the error body with a message. Bounded (a few examples per operation) to stay well under 2 minutes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import WEB_DIST, start_server, stop_server
from turbodraft.config import Settings
from turbodraft.gateway import create_app


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    app = create_app(
        Settings(
            data_dir=data_dir,
            web_dir=WEB_DIST,
            runpod_local_handler="fake-sdxl",
            server_model="no-such-model",
            rate_limit_per_minute=0,
            allow_model_pulls=False,  # random variant ids must not start real downloads
        )
    )
    running, thread = start_server(app)
    try:
        yield schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    finally:
        stop_server(running, thread)


def check_case(case: schemathesis.Case) -> None:
    response = case.call(timeout=60)
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, (where, response.text[:500])
    if 400 <= response.status_code < 500 and case.method.upper() != "HEAD":
        assert response.content, (where, response.status_code)
        body = response.json()
        assert body["error"]["message"], (where, body)
        assert body["detail"] == body["error"]["message"]


def test_no_input_gets_a_5xx_and_every_4xx_says_why(api_schema: schemathesis.BaseSchema) -> None:
    # schemathesis.pytest.from_fixture does not support pytest 9 yet: run each operation's strategy here.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            check_case(case)

        run()
