"""txt2img and img2img on a tiny random-weight SDXL pipeline: worker-sdxl's output, sized and seeded."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from tests.worker.support import ImageServer, Route, as_base64, decode_data_uri_png, png_bytes
from turbodraft.worker.handler import handle, handler
from turbodraft.worker.pipeline import SCHEDULERS

TXT2IMG: dict[str, Any] = {"prompt": "a red fox in snow", "width": 64, "height": 96, "steps": 2, "seed": 7}


def run(**job_input: Any) -> dict[str, Any]:
    output = handle(job_input)
    assert "error" not in output, output
    return output


def test_txt2img_answers_in_worker_sdxl_shape() -> None:
    output = run(**TXT2IMG)
    assert set(output) == {"images", "image_url", "seed"}
    assert len(output["images"]) == 1
    assert output["image_url"] == output["images"][0]
    assert output["seed"] == 7


def test_txt2img_png_has_the_requested_size() -> None:
    image = decode_data_uri_png(run(**TXT2IMG)["image_url"])
    assert image.format == "PNG"
    assert image.size == (64, 96)
    assert image.mode == "RGB"


def test_same_seed_gives_the_same_image() -> None:
    assert run(**TXT2IMG)["image_url"] == run(**TXT2IMG)["image_url"]


def test_different_seeds_give_different_images() -> None:
    assert run(**TXT2IMG)["image_url"] != run(**{**TXT2IMG, "seed": 8})["image_url"]


def test_missing_seed_is_drawn_and_reported_so_the_image_reproduces() -> None:
    first = run(**{key: value for key, value in TXT2IMG.items() if key != "seed"})
    assert isinstance(first["seed"], int)
    assert run(**{**TXT2IMG, "seed": first["seed"]})["image_url"] == first["image_url"]


def test_num_images_gives_that_many_distinct_images() -> None:
    output = run(**{**TXT2IMG, "num_images": 2})
    assert len(output["images"]) == 2
    assert output["images"][0] != output["images"][1]
    assert all(decode_data_uri_png(uri).size == (64, 96) for uri in output["images"])


def test_negative_prompt_and_guidance_change_the_image() -> None:
    plain = run(**TXT2IMG)["image_url"]
    assert run(**{**TXT2IMG, "negative_prompt": "blurry"})["image_url"] != plain
    assert run(**{**TXT2IMG, "guidance_scale": 0})["image_url"] != plain


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_every_worker_sdxl_scheduler_runs(scheduler: str) -> None:
    output = run(**{**TXT2IMG, "scheduler": scheduler, "steps": 2})
    assert decode_data_uri_png(output["image_url"]).size == (64, 96)


def test_img2img_from_base64_gives_the_requested_size() -> None:
    draft = as_base64(png_bytes(32, 32))
    output = run(prompt="a red fox", init_image=draft, width=64, height=64, steps=4, strength=0.5, seed=3)
    assert decode_data_uri_png(output["image_url"]).size == (64, 64)
    assert output["seed"] == 3


def test_img2img_is_deterministic_for_a_seed() -> None:
    job = {"prompt": "a fox", "init_image": as_base64(png_bytes()), "width": 64, "height": 64, "steps": 4}
    assert run(**job, seed=5)["image_url"] == run(**job, seed=5)["image_url"]


def test_img2img_strength_sets_how_far_the_draft_moves() -> None:
    job = {"prompt": "a fox", "init_image": as_base64(png_bytes()), "width": 64, "height": 64, "steps": 4}
    weak = decode_data_uri_png(run(**job, seed=1, strength=0.25)["image_url"])
    strong = decode_data_uri_png(run(**job, seed=1, strength=1.0)["image_url"])
    draft = png_bytes()

    original = Image.open(io.BytesIO(draft)).convert("RGB")
    distance = [sum(ImageStat.Stat(ImageChops.difference(original, image)).mean) for image in (weak, strong)]
    assert distance[0] < distance[1]


def test_img2img_from_a_url(image_server: ImageServer) -> None:
    url = image_server.url("/draft.png", Route(body=png_bytes(64, 64)))
    output = run(prompt="a fox", image_url=url, width=64, height=64, steps=4, strength=0.5, seed=2)
    inline = run(
        prompt="a fox",
        image_url=as_base64(png_bytes(64, 64)),
        width=64,
        height=64,
        steps=4,
        strength=0.5,
        seed=2,
    )
    assert output["image_url"] == inline["image_url"]


def test_runpod_style_handler_takes_a_job() -> None:
    output = handler({"id": "job-1", "input": TXT2IMG})
    assert output == handle(TXT2IMG)
