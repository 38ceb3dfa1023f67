"""Turn one GPU run's files (what run_on_device.sh leaves in $OUT) into bench/results/gpu-<card>.json.

    python bench/gpu/summarize.py /path/to/out [/path/to/second-run ...] bench/results/gpu-h100.json

The first directory must hold native.json (the build and the native baseline). Further directories are repeat runs
of the engine (same card, same models); their warm runs are pooled with the first's for the headline figures, and
each run's own medians are kept, because Dawn's timings drift by up to 30% from run to run.

Adds what the issue asks for: per configuration the warm per-stage medians, the speed-up over the demo's settings,
the ratio to native PyTorch fp16 on the same card, the ratio to the physical limit, and peak GPU memory read off
the nvidia-smi samples taken while that configuration ran.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import statistics
import sys
from pathlib import Path
from typing import Any

#: Work per 512x512 one-step image (browser-diffusion.md): TFLOP per graph, fp16 weight GB.
TFLOP = {"text_encoder": 0.045, "unet": 0.80, "vae_decoder": 2.51, "taesd_decoder": 0.14}
WEIGHTS_GB = {"full": 2.5, "taesd": 2.4}
#: NVIDIA's H100 SXM5 datasheet: dense fp16 tensor-core peak and HBM3 bandwidth.
H100_TFLOPS, H100_TBPS = 989.0, 3.35
#: The engine's default (sd-turbo-fp16-taesd, the engine's own session options), the full decoder, the demo.
DEFAULT, FULL_QUALITY, DEMO = "engine", "engine-full", "demo"


def limit_ms(taesd: bool) -> dict[str, float]:
    flops = TFLOP["text_encoder"] + TFLOP["unet"] + (TFLOP["taesd_decoder"] if taesd else TFLOP["vae_decoder"])
    compute = flops / H100_TFLOPS * 1000
    memory = WEIGHTS_GB["taesd" if taesd else "full"] / (H100_TBPS * 1000) * 1000
    return {
        "tflop": round(flops, 3),
        "compute_ms": round(compute, 2),
        "weights_ms": round(memory, 2),
        "limit_ms": round(max(compute, memory), 2),
    }


def smi_samples(path: Path) -> list[tuple[float, int]]:
    samples = []
    with path.open() as handle:
        for row in csv.reader(handle):
            if len(row) < 2 or not row[1].strip().isdigit():
                continue
            when = dt.datetime.strptime(row[0].strip(), "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
            samples.append((when.timestamp() * 1000, int(row[1])))
    return samples


def pooled_runs(outs: list[Path]) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    """Every warm total per configuration over all runs, and each run's medians."""
    pooled: dict[str, list[float]] = {}
    per_run = []
    for out in outs:
        engine = json.loads((out / "engine.json").read_text())
        medians = {}
        for r in engine["results"]:
            if "error" not in r:
                pooled.setdefault(r["name"], []).extend(r["warm_runs_total_ms"])
                medians[r["name"]] = r["warm_median_ms"]
        per_run.append({"order": [r["name"] for r in engine["results"]], "runs": engine["meta"]["runs"],
                        "warm_median_ms": medians})
    return pooled, per_run


def summarize(out: Path, repeats: list[Path] | None = None) -> dict[str, Any]:
    engine = json.loads((out / "engine.json").read_text())
    pooled, per_run = pooled_runs([out, *(repeats or [])])
    pooled_median = {name: round(statistics.median(v), 1) for name, v in pooled.items()}
    build = json.loads((out / "native.json").read_text())
    native = build["native"]
    gpu = next(csv.DictReader((out / "gpu.csv").open(), skipinitialspace=True))
    samples = smi_samples(out / "smi.csv") if (out / "smi.csv").exists() else []
    demo_total = pooled_median[DEMO]
    native_taesd_sum = native["text_encoder_ms"] + native["unet_ms"] + native["taesd_decoder_ms"]
    configs = []
    for r in engine["results"]:
        row: dict[str, Any] = {"name": r["name"], "what": r["what"]}
        if "error" in r:
            row["error"] = r["error"].split("\n")[0][:400]
            configs.append(row)
            continue
        taesd = r["graphs"]["vae_decoder"].startswith("taesd")
        warm = r["warm_median_ms"]
        total = pooled_median[r["name"]]
        lim = limit_ms(taesd)
        peak = [mib for t, mib in samples if r["started_at"] <= t <= r["ended_at"]]
        row.update(
            bundle=r["bundle"],
            variant=r.get("variant"),
            graphs=r["graphs"],
            session_options=r.get("session_options"),
            warm_median_ms=warm,
            warm_total_ms_pooled_median=total,
            warm_totals_pooled=len(pooled[r["name"]]),
            warm_runs_total_ms=r["warm_runs_total_ms"],
            cold_load_ms=r["cold"]["load_ms"],
            cold_first_run_ms=r["cold"]["first_run_ms"]["total"],
            speedup_vs_demo=round(demo_total / total, 2),
            speedup_vs_demo_per_run=[
                round(run["warm_median_ms"][DEMO]["total"] / run["warm_median_ms"][r["name"]]["total"], 2)
                for run in per_run
                if DEMO in run["warm_median_ms"] and r["name"] in run["warm_median_ms"]
            ],
            ratio_vs_native=round(total / native["total_ms"], 2),
            ratio_vs_native_same_decoder=round(total / (native_taesd_sum if taesd else native["total_ms"]), 2),
            limit=lim,
            ratio_vs_limit=round(total / lim["limit_ms"], 1),
            peak_gpu_mib=max(peak) if peak else None,
            image=r["image"],
        )
        configs.append(row)
    default = next(c for c in configs if c["name"] == DEFAULT)
    full = next(c for c in configs if c["name"] == FULL_QUALITY)
    return {
        "what": "SD-Turbo architecture (random weights), 512x512, 1 step, fp16 graphs with fp32 I/O; the browser "
        "engine's pipeline (web/src/engine/pipeline.ts) in Node on Dawn; all figures from one run on one card",
        "card": gpu["name"],
        "driver": gpu["driver_version"],
        "onnxruntime_web": engine["meta"]["ort_versions"],
        "dawn": "dawn.node from npm webgpu 0.6.2 (Vulkan backend)",
        "adapter": engine["meta"]["adapter"],
        "node": engine["meta"]["node"],
        "runs": engine["meta"]["runs"],
        "default_config": DEFAULT,
        "default_note": "the engine's default configuration as shipped: model sd-turbo-fp16-taesd (TAESD decoder, "
        "random weights here) with the engine's own session options (pipeline.ts sessionOptions: NHWC, every dim "
        "fixed for 512x512, ConvActivationFusion off for the decoder); headline figures pool the warm runs of all "
        "runs (medians), per-run figures are in speedup_vs_demo_per_run and runs_medians",
        "speedup_vs_demo": default["speedup_vs_demo"],
        "speedup_vs_demo_per_run": default["speedup_vs_demo_per_run"],
        "ratio_vs_native": default["ratio_vs_native"],
        "ratio_vs_native_same_decoder": default["ratio_vs_native_same_decoder"],
        "full_quality_config": FULL_QUALITY,
        "full_quality_speedup_vs_demo": full["speedup_vs_demo"],
        "full_quality_ratio_vs_native": full["ratio_vs_native"],
        "native": native,
        "params_m": build["params_m"],
        "onnx_mb": build["onnx_mb"],
        "export_s": build["export_s"],
        "limit_basis": f"H100 SXM datasheet: {H100_TFLOPS} dense fp16 TFLOP/s, {H100_TBPS} TB/s; work per image "
        f"{TFLOP} TFLOP, weights {WEIGHTS_GB} GB fp16",
        "configs": configs,
        "runs_medians": per_run,
        "earlier_exploration": "bench/results/gpu-h100-exploration.json (first GPU run: NCHW failure, free vs fixed "
        "dims, MultiHeadAttention, ReLU as a gate, the native WebGPU EP)",
    }


def main(argv: list[str]) -> int:
    report = summarize(Path(argv[0]), [Path(a) for a in argv[1:-1]])
    Path(argv[-1]).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    for c in report["configs"]:
        print(
            c["name"],
            c.get("error") or (c["warm_median_ms"], c["speedup_vs_demo"], c["ratio_vs_native"], c["peak_gpu_mib"]),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
