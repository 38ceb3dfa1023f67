"""Gateway overhead on a final: the gateway's end-to-end time (POST /v1/jobs, long-poll to completed, GET the
image) against calling the same local RunPod-compatible server directly with the same RunPodClient, the same
job input and the same poll policy, in the same run. `overhead_ms` is the difference of the medians.

Three processes, as in production: the local RunPod server (`turbodraft runpod-local`), the gateway
(`turbodraft serve`, finals sent to that server, its own server target off so that finals cannot land
there) and this one, the caller. The two paths alternate, gateway first on even runs and direct first on
odd ones, so a change of machine load hits both alike.

Handlers: `fake-sdxl` answers worker-sdxl's output shape with an 8x8 PNG in microseconds, so what is left is
the HTTP, polling and bookkeeping the gateway adds; `sd-turbo` runs the tiny SD-Turbo twin (a real generation,
64x64, one step), as the gateway's default local handler does.

What the gateway adds on its path: the route plan, the job record and its ledger rows, its RunPodClient
polling the server, decoding the output, writing the PNG, and the caller's long-poll and image download.

    turbodraft bench cloud --json            (writes bench/results/cloud-<machine>.json)
    python bench/cloud.py --runs 10          (directly)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from turbodraft.cli.bench import load_bench_module
from turbodraft.gateway.services import LOCAL_POLL
from turbodraft.models.manifest import REPO_ROOT
from turbodraft.providers.runpod_client import RunPodClient

RESULTS_DIR = REPO_ROOT / "bench" / "results"
DEFAULT_HANDLERS = ("fake-sdxl", "sd-turbo")
#: Local handlers that answer a final with an image (echo does not; sdxl needs torch and a GPU).
IMAGE_HANDLERS = ("fake-sdxl", "sd-turbo")
#: What the gateway sends its RunPod target for a final, and what the direct path sends too.
SERVER_MODEL = "tiny-sd-turbo"
ENDPOINT = "local"
#: The gateway's key for a local server it did not start itself; the server here runs without auth.
LOCAL_KEY = "local"
#: The gateway's settings.runpod_timeout_s default: the RunPodClient derives its job policy from it.
RUNPOD_TIMEOUT_S = 300.0
WAIT_MS = 30_000
STARTUP_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    """The benchmark could not run or a final did not complete: the message says why."""


_machine = load_bench_module("_machine")


def default_out(info: dict[str, Any]) -> Path:
    return RESULTS_DIR / f"cloud-{_machine.machine_slug(info)}.json"


# --- the two servers ----------------------------------------------------------------------------------------


def free_port() -> int:
    port: int = load_bench_module("gateway").free_port()
    return port


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without TURBODRAFT_* (a RunPod key there would send finals to RunPod), plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURBODRAFT_")}
    # An empty config file: a turbodraft.toml in the working directory must not change the measurement.
    empty = data_dir / "none.toml"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("")
    env["TURBODRAFT_CONFIG"] = str(empty)
    env["TURBODRAFT_DATA_DIR"] = str(data_dir)
    env.update({f"TURBODRAFT_{k.upper()}": v for k, v in settings.items()})
    return env


def wait_until_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise BenchError(f"{what} exited with {process.returncode}: {stderr.strip()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{what} did not answer {url} within {STARTUP_TIMEOUT_S:g} s")


@contextmanager
def process(command: list[str], env: dict[str, str], health_url: str, what: str) -> Iterator[None]:
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(health_url, child, what)
        yield
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stderr is not None:
            child.stderr.close()


@contextmanager
def servers(handler: str, data_dir: Path) -> Iterator[tuple[str, str]]:
    """The local RunPod server running `handler`, and a gateway sending finals to it.

    Yields the server's API base (http://host:port/v2) and the gateway's origin.
    """
    runpod_port, gateway_port = free_port(), free_port()
    runpod_base = f"http://127.0.0.1:{runpod_port}/v2"
    gateway = f"http://127.0.0.1:{gateway_port}"
    cli = [sys.executable, "-m", "turbodraft"]
    with ExitStack() as stack:
        stack.enter_context(
            process(
                [
                    *cli,
                    "runpod-local",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(runpod_port),
                    "--handler",
                    handler,
                ],
                clean_env(data_dir / "runpod", server_model=SERVER_MODEL),
                f"{runpod_base}/{ENDPOINT}/health",
                f"the local RunPod server ({handler})",
            )
        )
        gateway_env = clean_env(
            data_dir / "gateway",
            runpod_local_embedded="false",
            runpod_local_base_url=runpod_base,
            targets__server="false",  # a final must take the RunPod path, not the in-process SD-Turbo
            rate_limit_per_minute="0",
            server_model=SERVER_MODEL,
        )
        stack.enter_context(
            process(
                [
                    *cli,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(gateway_port),
                    "--data-dir",
                    str(data_dir / "gateway"),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                gateway_env,
                f"{gateway}/health",
                "the gateway",
            )
        )
        yield runpod_base, gateway


# --- one final, each way ------------------------------------------------------------------------------------


def gateway_body(job_input: dict[str, Any]) -> dict[str, Any]:
    """The /v1/jobs body that makes the gateway send exactly `job_input` (see gateway.jobs.runpod_input)."""
    return {
        "prompt": job_input["prompt"],
        "priority": "final",
        "width": job_input["width"],
        "height": job_input["height"],
        "steps": job_input["num_inference_steps"],
        "seed": job_input["seed"],
    }


async def through_gateway(
    http: httpx.AsyncClient, gateway: str, job_input: dict[str, Any]
) -> dict[str, float]:
    t0 = time.perf_counter()
    created = await http.post(f"{gateway}/v1/jobs", json=gateway_body(job_input))
    if created.status_code != 202:
        raise BenchError(f"POST /v1/jobs answered {created.status_code}: {created.text[:500]}")
    job: dict[str, Any] = created.json()
    t1 = time.perf_counter()
    while job["status"] in ("queued", "running"):
        answer = await http.get(f"{gateway}/v1/jobs/{job['id']}", params={"wait": WAIT_MS})
        answer.raise_for_status()
        job = answer.json()
    t2 = time.perf_counter()
    if job["status"] != "completed" or job["target"] != "runpod":
        raise BenchError(f"the gateway's final ended {job['status']} on {job['target']}: {job['attempts']}")
    image = await http.get(f"{gateway}{job['imageUrl']}")
    t3 = time.perf_counter()
    if image.status_code != 200 or not image.content.startswith(b"\x89PNG"):
        raise BenchError(f"GET {job['imageUrl']} answered {image.status_code}, not a PNG")
    return {
        "total": (t3 - t0) * 1000,
        "submit": (t1 - t0) * 1000,
        "wait": (t2 - t1) * 1000,
        "image": (t3 - t2) * 1000,
    }


async def direct(client: RunPodClient, job_input: dict[str, Any]) -> dict[str, float]:
    t0 = time.perf_counter()
    result = await client.run(job_input, timeout_s=RUNPOD_TIMEOUT_S)
    t1 = time.perf_counter()
    if not result.ok:
        raise BenchError(f"the direct final ended {result.status}: {result.error_kind} {result.error}")
    # HTTP requests the client made (the submission and its polls): the poll policy at work.
    return {"total": (t1 - t0) * 1000, "http_requests": float(result.requests)}


def summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    totals = [s["total"] for s in samples]
    out: dict[str, Any] = {
        "median_ms": round(statistics.median(totals), 3),
        "mean_ms": round(statistics.fmean(totals), 3),
        "min_ms": round(min(totals), 3),
        "max_ms": round(max(totals), 3),
    }
    if len(totals) >= 2:
        out["p90_ms"] = round(statistics.quantiles(totals, n=10, method="inclusive")[8], 3)
    parts = [k for k in samples[0] if k not in ("total", "http_requests")]
    if parts:
        out["median_parts_ms"] = {k: round(statistics.median(s[k] for s in samples), 3) for k in parts}
    if "http_requests" in samples[0]:
        out["median_http_requests"] = statistics.median(s["http_requests"] for s in samples)
    return out


async def measure(
    runpod_base: str, gateway: str, job_input: dict[str, Any], runs: int, warmup: int
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=WAIT_MS / 1000 + 30) as http:
        # The gateway's own client for a local server it did not start: same key, poll policy and timeout.
        client = RunPodClient(
            http, endpoint_id=ENDPOINT, api_key=LOCAL_KEY, base_url=runpod_base, poll=LOCAL_POLL
        )
        via_gateway: list[dict[str, float]] = []
        straight: list[dict[str, float]] = []
        for i in range(warmup + runs):
            seeded = {**job_input, "seed": job_input["seed"] + i}
            if i % 2 == 0:
                g = await through_gateway(http, gateway, seeded)
                d = await direct(client, seeded)
            else:
                d = await direct(client, seeded)
                g = await through_gateway(http, gateway, seeded)
            if i >= warmup:
                via_gateway.append(g)
                straight.append(d)
    gateway_summary, direct_summary = summary(via_gateway), summary(straight)
    overhead = gateway_summary["median_ms"] - direct_summary["median_ms"]
    return {
        "runs": runs,
        "warmup": warmup,
        "direct": direct_summary,
        "gateway": gateway_summary,
        "overhead_ms": round(overhead, 3),
        "overhead_pct": round(100 * overhead / direct_summary["median_ms"], 1),
        # Each gateway final minus the direct one run next to it (same seed): less sensitive to a noisy
        # generation time than the difference of two medians.
        "paired_overhead_median_ms": round(
            statistics.median(g["total"] - d["total"] for g, d in zip(via_gateway, straight, strict=True)), 3
        ),
    }


# --- the whole benchmark ------------------------------------------------------------------------------------


def run(
    handlers: Sequence[str] = DEFAULT_HANDLERS,
    runs: int = 30,
    warmup: int = 3,
    size: int = 64,
    steps: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    unknown = [h for h in handlers if h not in IMAGE_HANDLERS]
    if unknown or not handlers:
        raise BenchError(f"unknown handlers {unknown}: choose from {', '.join(IMAGE_HANDLERS)}")
    if runs < 1 or warmup < 0:
        raise BenchError("runs must be at least 1 and warm-ups at least 0")
    if not (64 <= size <= 2048 and size % 8 == 0) or not 1 <= steps <= 4:
        raise BenchError("size must be a multiple of 8 from 64 to 2048, steps from 1 to 4")
    say = progress or (lambda _message: None)
    info = _machine.machine()
    job_input = {
        "prompt": "a lighthouse on a cliff at dusk",
        "width": size,
        "height": size,
        "num_inference_steps": steps,
        "seed": 1000,
    }
    started = time.perf_counter()
    by_handler: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="turbodraft-bench-cloud-") as tmp:
        for handler in handlers:
            say(f"{handler}: starting the local RunPod server and the gateway ...")
            data_dir = Path(tmp) / handler
            with servers(handler, data_dir) as (runpod_base, gateway):
                say(f"{handler}: {warmup} + {runs} finals each way ...")
                by_handler[handler] = asyncio.run(measure(runpod_base, gateway, job_input, runs, warmup))
    headline = handlers[0]
    return {
        "benchmark": "cloud",
        "unit": (
            "milliseconds per final, end to end; overhead_ms = median through the gateway minus median "
            "direct (same local RunPod server, handler, job input, RunPodClient and poll policy)"
        ),
        "machine": info,
        "paths": {
            "gateway": "POST /v1/jobs (final) -> gateway RunPodClient -> local RunPod server; "
            "GET /v1/jobs/{id}?wait= until completed; GET the image",
            "direct": "RunPodClient.run(job_input) against the same local RunPod server",
        },
        "job_input": {k: v for k, v in job_input.items() if k != "seed"},
        "seeds": "job_input seed 1000 + run index, the same on both paths",
        "poll_policy": asdict(LOCAL_POLL),
        "server_model": SERVER_MODEL,
        "overhead_ms": by_handler[headline]["overhead_ms"],
        "overhead_handler": headline,
        "handlers": by_handler,
        "duration_s": round(time.perf_counter() - started, 1),
        "load_average_at_end": _machine.load_average(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--handlers", default=",".join(DEFAULT_HANDLERS))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args.handlers.split(","), args.runs)
    text = json.dumps(result, indent=2)
    (args.out or default_out(result["machine"])).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
