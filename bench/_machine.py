"""What the engine and cloud benchmarks record about the machine, and the file name it gives their results.

The CPU model and core count come from bench/gateway.py's `machine()`, so every result names a machine alike.
"""

from __future__ import annotations

import os
import re
from typing import Any

from turbodraft.cli.bench import load_bench_module


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine slows every figure, so it is recorded."""
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    info: dict[str, Any] = load_bench_module("gateway").machine()
    return {**info, "gpu": "no GPU", "load_average_at_start": load_average()}


def machine_slug(info: dict[str, Any]) -> str:
    """'AMD EPYC' with 2 cores -> 'amd-epyc-2core', as the committed gateway and download results say."""
    name = re.sub(r"[^a-z0-9]+", "-", str(info["cpu_model"]).lower()).strip("-") or "cpu"
    return f"{name}-{info['cores']}core"
