"""Gateway throughput: routing decisions and ledger writes per second, with latency percentiles.

The gateway runs as `turbodraft serve` in its own process (uvicorn; httptools and uvloop when installed);
this process is the load generator: `connections` keep-alive HTTP/1.1 connections on loopback, each
repeating one *unit* as fast as the answers come:

    POST /v1/route   a draft request with a browser capability report (the policy, no I/O)
    POST /v1/usage   the browser reporting that draft (a ledger write through the batching LedgerWriter)

Every HTTP request counts once in `req_per_s` and in the latency percentiles (`p50_ms`, `p99_ms`); the
per-endpoint figures are beside them. Requests come from `users` rotating user ids, so the per-user rate
limiter (on, at its default) and the budget code paths run as in production. Afterwards the ledger is
read back (GET /v1/costs?scope=all: every user's) to check that every acknowledged write is there.

The client is a minimal asyncio HTTP/1.1 client rather than httpx: on a 2-core machine the load generator
shares the CPU with the gateway, and httpx would spend more CPU per request than the gateway does.

    python bench/gateway.py --json          (or: turbodraft bench gateway --json)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CAPABILITIES = {
    "hasWebGPU": True,
    "shaderF16": True,
    "crossOriginIsolated": True,
    "localModel": {"variant": "sd-turbo-fp16", "state": "ready"},
    "measuredDraftMs": 900,
}
ROUTE_BODY = json.dumps(
    {"request": {"priority": "draft", "width": 512, "height": 512, "steps": 1}, "capabilities": CAPABILITIES}
).encode()


def usage_body(report_id: str) -> bytes:
    return json.dumps(
        {
            "id": report_id,
            "backend": "webgpu-fp16",
            "variant": "sd-turbo-fp16",
            "width": 512,
            "height": 512,
            "steps": 1,
            "stagesMs": {"tokenize": 0.4, "text_encoder": 40.0, "unet": 700.0, "vae_decoder": 150.0},
            "totalMs": 905.0,
        }
    ).encode()


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return {"cpu_model": model, "cores": os.cpu_count(), "python": platform.python_version()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- a minimal HTTP/1.1 keep-alive client -----------------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes, user: str) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-User-Id: {user}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        length = 0
        for line in headers.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Samples:
    route_ms: list[float] = field(default_factory=list)
    usage_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    written: int = 0


async def worker(
    port: int, index: int, users: int, stop_at: float, measure_from: float, samples: Samples, prefix: str
) -> None:
    conn = await Connection.open(port)
    n = 0
    try:
        while (now := time.perf_counter()) < stop_at:
            user = f"user-{(index * 7919 + n) % users}"
            t0 = time.perf_counter()
            status, _ = await conn.post("/v1/route", ROUTE_BODY, user)
            t1 = time.perf_counter()
            status2, _ = await conn.post("/v1/usage", usage_body(f"{prefix}-{index}-{n}"), user)
            t2 = time.perf_counter()
            n += 1
            if now < measure_from:
                continue
            samples.route_ms.append((t1 - t0) * 1000)
            samples.usage_ms.append((t2 - t1) * 1000)
            for code in (status, status2):
                if code >= 300:
                    samples.errors[str(code)] = samples.errors.get(str(code), 0) + 1
            samples.written += status2 == 201
    finally:
        conn.close()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49], 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(ordered[-1], 3),
    }


async def load(
    port: int, connections: int, users: int, duration_s: float, warmup_s: float, prefix: str = "bench"
) -> dict[str, Any]:
    samples = Samples()
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s
    await asyncio.gather(
        *(worker(port, i, users, stop_at, measure_from, samples, prefix) for i in range(connections))
    )
    elapsed = time.perf_counter() - measure_from
    everything = samples.route_ms + samples.usage_ms
    return {
        "requests": len(everything),
        "elapsed_s": round(elapsed, 3),
        "req_per_s": round(len(everything) / elapsed, 1),
        **percentiles(everything),
        "route": {"requests": len(samples.route_ms), **percentiles(samples.route_ms)},
        "usage": {"requests": len(samples.usage_ms), **percentiles(samples.usage_ms)},
        "errors": samples.errors,
        "usage_written": samples.written,
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), to report the gateway's CPU cost per request:
    unlike req/s it does not depend on what else the machine is running."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the gateway did not become healthy")


def ledger_local_count(url: str) -> int:
    with urllib.request.urlopen(f"{url}/v1/costs?days=1&scope=all", timeout=30) as response:
        summary = json.load(response)
    return int(summary["today"]["local_count"])


def run(
    connections: int = 8, users: int = 1000, duration_s: float = 10.0, warmup_s: float = 2.0
) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="turbodraft-bench-") as data_dir:
        # An empty config file: a turbodraft.toml in the working directory must not change the measurement.
        empty = Path(data_dir) / "none.toml"
        empty.write_text("")
        env = {**os.environ, "TURBODRAFT_CONFIG": str(empty)}
        command = [
            sys.executable, "-m", "turbodraft", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", data_dir, "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_healthy(url, process)
            load_before = load_average()
            asyncio.run(load(port, connections, users, warmup_s, 0.0, prefix="warmup"))
            cpu_before = cpu_seconds(process.pid)
            result = asyncio.run(load(port, connections, users, duration_s, 0.0, prefix="bench"))
            cpu_after = cpu_seconds(process.pid)
            in_ledger = ledger_local_count(url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    try:
        import httptools  # noqa: F401

        http_impl = "httptools"
    except ImportError:
        http_impl = "h11"
    try:
        import uvloop  # noqa: F401

        loop_impl = "uvloop"
    except ImportError:
        loop_impl = "asyncio"
    return {
        "benchmark": "gateway",
        "unit": "POST /v1/route then POST /v1/usage (ledger write), each request counted",
        "machine": machine(),
        "server": {"uvicorn_http": http_impl, "loop": loop_impl, "workers": 1, "access_log": False},
        "connections": connections,
        "users": users,
        "duration_s": duration_s,
        **result,
        # CPU the gateway process spent per measured request (Linux only).
        "gateway_cpu_ms_per_request": (
            round((cpu_after - cpu_before) * 1000 / result["requests"], 3)
            if cpu_before is not None and cpu_after is not None and result["requests"]
            else None
        ),
        "load_average_before": load_before,
        # Warm-up writes are in the ledger too, so it holds at least every write acknowledged while measuring.
        "ledger_rows_today": in_ledger,
        "ledger_has_every_write": in_ledger >= result["usage_written"],
        "goal": {"req_per_s": 1000, "p99_ms": 20},
        "goal_met": result["req_per_s"] >= 1000 and result["p99_ms"] <= 20,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.connections, args.users, args.duration)
    print(json.dumps(result, indent=2) if args.json else result)


if __name__ == "__main__":
    main()
