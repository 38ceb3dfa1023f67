"""Turn one GPU run's files (what run_on_device.sh leaves: engine.json and all.tgz unpacked) into
bench/results/gpu-<card>.json.

    python bench/gpu/summarize.py /path/to/run-files bench/results/gpu-h200.json

Per configuration: the warm medians, the ratio to native PyTorch fp16 on the same card (with the same decoder and
with the full one), what session creation and the first run cost (and in Dawn: shaders, pipelines, uploads), the
per-operator GPU profile where one was taken, and peak GPU memory off the nvidia-smi samples of that configuration.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

#: Work per 512x512 one-step image (browser-diffusion.md): TFLOP per graph.
TFLOP = {"text_encoder": 0.045, "unet": 0.80, "vae_decoder": 2.51, "taesd_decoder": 0.14}
#: NVIDIA's H100/H200 SXM datasheet dense fp16 tensor rate, and the bf16 rate measured on one H200 here (KINDS.md).
DATASHEET_TFLOPS, MEASURED_MATMUL_TFLOPS = 989.0, 788.0


def smi_samples(path: Path) -> list[tuple[float, int]]:
    samples = []
    with path.open() as handle:
        for row in csv.reader(handle):
            if len(row) < 2 or not row[1].strip().isdigit():
                continue
            when = dt.datetime.strptime(row[0].strip(), "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
            samples.append((when.timestamp() * 1000, int(row[1])))
    return samples


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def summarize_config(r: dict[str, Any], native: dict[str, Any], samples: list[tuple[float, int]]) -> dict[str, Any]:
    if "error" in r:
        return {"name": r["name"], "what": r["what"], "error": r["error"].split("\n")[0][:400]}
    taesd = r["graphs"]["vae_decoder"].startswith("taesd")
    warm = r["warm_median_ms"]
    native_same = native["text_encoder_ms"] + native["unet_ms"] + (
        native["taesd_decoder_ms"] if taesd else native["vae_decoder_ms"]
    )
    peak = [mib for t, mib in samples if r["started_at"] <= t <= r["ended_at"]]
    row: dict[str, Any] = {
        "name": r["name"],
        "what": r["what"],
        "bundle": r["bundle"],
        "variant": r.get("variant"),
        "graphs": r["graphs"],
        "perf": r.get("perf"),
        "captured_graphs": r.get("captured_graphs"),
        "perf_from": r.get("perf_from"),
        "warm_median_ms": warm,
        "warm_runs_total_ms": r["warm_runs_total_ms"],
        "warm_total_ms": warm["total"],
        "ratio_vs_native_same_decoder": round(warm["total"] / native_same, 2),
        "ratio_vs_native_full_pipeline": round(warm["total"] / native["total_ms"], 2),
        "native_same_decoder_ms": round(native_same, 1),
        "cold": r["cold"],
        "session_create_ms": r.get("session_create_ms"),
        "peak_gpu_mib": max(peak) if peak else None,
        "image": r["image"],
        "session_options": r.get("session_options"),
    }
    if r.get("profile"):
        p = r["profile"]
        row["profile"] = {
            "kernels": p["kernels"],
            "gpu_kernel_ms": p["gpu_kernel_ms"],
            "wall_ms_profiled_run": p["wall_ms_profiled_run"],
            "by_op_top": dict(list(p["by_op"].items())[:15]),
            "slowest": p["slowest"][:12],
        }
    return row


def summarize(files: Path) -> dict[str, Any]:
    engine = json.loads((files / "engine.json").read_text())
    build = json.loads((files / "native.json").read_text())
    native = build["native"]
    gpu = next(csv.DictReader((files / "gpu.csv").open(), skipinitialspace=True))
    samples = smi_samples(files / "smi.csv") if (files / "smi.csv").exists() else []
    configs = [summarize_config(r, native, samples) for r in engine["results"]]
    extra: dict[str, Any] = {}
    for name in ("cold2", "native-ep", "toggles"):
        data = _load(files / f"{name}.json")
        if data is not None:
            extra[name] = [summarize_config(r, native, samples) for r in data["results"]]
    log = files / "native-ep.log"
    if log.exists():
        extra["native_ep_log_tail"] = log.read_text(errors="replace")[-1500:]
    variants = {
        p.stem.removeprefix("variant-"): json.loads(p.read_text()) for p in sorted(files.glob("variant-*.json"))
    }
    ok = {c["name"]: c for c in configs if "error" not in c}
    unet_wall = ok.get("cpu-latents", {}).get("warm_median_ms", {}).get("unet")
    return {
        "what": "SD-Turbo architecture (random weights), 512x512, 1 step, fp16 graphs with fp32 I/O; the browser "
        "engine's pipeline (web/src/engine/pipeline.ts) in Node on Dawn; all figures from one run on one card",
        "card": gpu["name"],
        "driver": gpu["driver_version"],
        "onnxruntime_web": engine["meta"].get("ort_versions"),
        "dawn": "dawn.node from npm webgpu 0.6.2 (Vulkan backend), flags " + engine["meta"].get("dawn_flags", ""),
        "adapter": engine["meta"].get("adapter"),
        "node": engine["meta"]["node"],
        "runs": engine["meta"]["runs"],
        "native": native,
        "params_m": build["params_m"],
        "onnx_mb": build["onnx_mb"],
        "unet_tflops": {
            "work_tflop": TFLOP["unet"],
            "engine_unet_ms": unet_wall,
            "engine_tflops": round(TFLOP["unet"] / (unet_wall / 1000), 1) if unet_wall else None,
            "native_unet_ms": native["unet_ms"],
            "native_tflops": round(TFLOP["unet"] / (native["unet_ms"] / 1000), 1),
            "card_datasheet_tflops": DATASHEET_TFLOPS,
            "card_measured_matmul_tflops": MEASURED_MATMUL_TFLOPS,
            "note": "engine_unet_ms is the UNet stage of cpu-latents (its output read back, so the GPU work is done)",
        },
        "best_perf": engine["meta"].get("best_perf"),
        "variants": variants,
        "configs": configs,
        "extra_processes": extra,
    }


def main(argv: list[str]) -> int:
    report = summarize(Path(argv[0]))
    Path(argv[1]).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    for c in report["configs"]:
        summary = c.get("error") or (c["warm_median_ms"], c["ratio_vs_native_same_decoder"], c["cold"]["load_ms"])
        print(c["name"], summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
