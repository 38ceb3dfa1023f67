"""End to end with the real SD-Turbo twin (tiny fixture): a final through the local RunPod server, a draft on
the server target, and "Refine to final": img2img of a draft through the gateway API."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from tests.test_api_v1 import api, finished
from turbodraft.models.manifest import REPO_ROOT

TINY = REPO_ROOT / "fixtures" / "tiny-sd-turbo"
REAL = {"server_model": "tiny-sd-turbo", "runpod_local_handler": "sd-turbo"}


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_a_final_via_the_local_runpod_server_is_an_sd_turbo_image(tmp_path: Path) -> None:
    with api(tmp_path, **REAL) as client:
        job = finished(
            client,
            client.post(
                "/v1/jobs", json={"prompt": "a fox", "priority": "final", "width": 128, "height": 128}
            ).json()["id"],
        )
        png = client.get(job["imageUrl"]).content
    assert job["status"] == "completed" and job["target"] == "runpod", job
    assert png_size(png) == (128, 128)
    pixels = Image.open(io.BytesIO(png)).convert("L").getextrema()
    assert pixels[0] != pixels[1]  # not a flat colour: the model drew something


def test_a_draft_runs_on_the_server_target(tmp_path: Path) -> None:
    with api(tmp_path, **REAL) as client:
        job = finished(
            client,
            client.post("/v1/jobs", json={"prompt": "a fox", "width": 64, "height": 64, "seed": 3}).json()[
                "id"
            ],
        )
    assert job["target"] == "server" and job["attempts"][0]["error"] is None, job
    assert job["fallbackReason"] is None


def test_refine_to_final_sends_the_draft_through_img2img(tmp_path: Path) -> None:
    with api(tmp_path, **REAL) as client:
        draft = finished(
            client,
            client.post("/v1/jobs", json={"prompt": "a fox", "width": 64, "height": 64, "seed": 9}).json()[
                "id"
            ],
        )
        draft_png = client.get(draft["imageUrl"]).content
        body = {
            "prompt": "a fox",
            "priority": "final",
            "width": 64,
            "height": 64,
            "seed": 9,
            "steps": 4,
            "initImage": "data:image/png;base64," + base64.b64encode(draft_png).decode(),
            "strength": 0.5,
        }
        final = finished(client, client.post("/v1/jobs", json=body).json()["id"])
        final_png = client.get(final["imageUrl"]).content
    assert final["status"] == "completed" and final["img2img"] is True, final
    assert final["target"] == "runpod"
    assert png_size(final_png) == (64, 64)
    assert final_png != draft_png
