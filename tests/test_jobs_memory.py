"""A finished job keeps what its view needs, not its init image: memory stays flat over 1,000 img2img jobs."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import os
import random
from pathlib import Path

from PIL import Image

from tests.test_api_v1 import api

JOBS = 1000
WARM_UP = 50
#: Generous: the leak this guards against was 1.2 MB a job (the image, and its base64 on the local server).
MAX_GROWTH_BYTES = 150 * 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def noise_png(side: int) -> bytes:
    # Random pixels do not compress: about 3 bytes a pixel, so each job carries a ~500 KB image.
    image = Image.frombytes("RGB", (side, side), random.Random(side).randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_memory_stays_flat_over_a_thousand_img2img_jobs(tmp_path: Path) -> None:
    init = base64.b64encode(noise_png(400)).decode()
    body = {"prompt": "x", "priority": "final", "initImage": init, "strength": 0.5}
    with api(tmp_path, rate_limit_per_minute=0) as client:

        def one(_: int) -> str:
            created = client.post("/v1/jobs", json=body)
            assert created.status_code == 202, created.text
            job_id: str = created.json()["id"]
            done = client.get(f"/v1/jobs/{job_id}", params={"wait": 30000}).json()
            assert done["status"] == "completed", done
            return job_id

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(WARM_UP)))
            before = rss_bytes()
            list(pool.map(one, range(JOBS)))
        after = rss_bytes()
    assert after - before < MAX_GROWTH_BYTES, f"grew {(after - before) / 2**20:.0f} MiB over {JOBS} jobs"


def test_a_finished_img2img_job_still_says_it_was_img2img(tmp_path: Path) -> None:
    init = base64.b64encode(noise_png(64)).decode()
    with api(tmp_path) as client:
        job = client.post("/v1/jobs", json={"prompt": "x", "priority": "final", "initImage": init, "strength": 0.5})
        done = client.get(f"/v1/jobs/{job.json()['id']}", params={"wait": 20000}).json()
    assert done["status"] == "completed" and done["img2img"] is True
