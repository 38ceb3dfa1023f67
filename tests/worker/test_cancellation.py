"""A set cancellation flag stops denoising at the next step, as the local RunPod server's cancel expects."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.worker.support import CancelAfterChecks, as_base64, decode_data_uri_png, png_bytes
from turbodraft.worker.handler import GenerationCancelledError, handle

JOB = {"prompt": "a red fox", "width": 64, "height": 64, "steps": 50, "seed": 1}


def test_flag_set_mid_run_stops_after_that_step(cancel_after: Callable[[int], CancelAfterChecks]) -> None:
    flag = cancel_after(3)  # one look before the first step, then one after each step
    with pytest.raises(GenerationCancelledError, match="after step 3"):
        handle(JOB, flag)
    assert flag.looks == 4  # 47 of the 50 steps never ran


def test_img2img_stops_too(cancel_after: Callable[[int], CancelAfterChecks]) -> None:
    flag = cancel_after(2)
    job = {**JOB, "init_image": as_base64(png_bytes()), "strength": 1.0}
    with pytest.raises(GenerationCancelledError, match="after step 2"):
        handle(job, flag)


def test_flag_set_before_the_job_runs_nothing() -> None:
    flag = threading.Event()
    flag.set()
    with pytest.raises(GenerationCancelledError, match="before the first step"):
        handle(JOB, flag)


def test_unset_flag_lets_the_job_finish() -> None:
    output = handle({**JOB, "steps": 2}, threading.Event())
    assert decode_data_uri_png(output["image_url"]).size == (64, 64)


def test_worker_runs_the_next_job_after_a_cancelled_one(
    cancel_after: Callable[[int], CancelAfterChecks],
) -> None:
    with pytest.raises(GenerationCancelledError):
        handle(JOB, cancel_after(2))
    assert "images" in handle({**JOB, "steps": 2})
