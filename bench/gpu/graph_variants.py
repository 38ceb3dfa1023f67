"""Variants of the exported graphs for the GPU benchmark's routes, made from plain/ (bench/gpu/build_models.py):

  capture/   text encoder and UNet rewritten so that every node can run on ORT-web's WebGPU EP, which graph
             capture needs: JSEP has no int64 Cast/Expand, so ORT keeps the ids' int32->int64 Cast and the
             timestep's int64 Expand on the CPU. Here the ids go to the embedding Gather as int32 (ONNX allows
             int32 indices) and the timestep input is float32 (the UNet casts it to float first anyway).
  opt-*/     the UNet through ONNX Runtime's transformer optimizer (onnxruntime.transformers, model_type 'unet')
             after ORT's basic optimisation with every free dimension fixed for 512x512, which folds the legacy
             exporter's shape arithmetic so that the optimizer's attention patterns can match:
             opt-all (its unet defaults: attention, GroupNorm, BiasSplitGelu, BiasAdd, SkipLayerNorm),
             opt-nogn (no GroupNorm: JSEP has no GroupNorm kernel), opt-noattn (neither attention nor GroupNorm).

    python bench/gpu/graph_variants.py /tmp/sdt [--latent 64] [--only capture,opt-all,...]
Each variant directory holds only the graphs it changes; bench.ts takes the rest from plain/ and taesd/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto


def _consumers(graph: Any, name: str) -> list[Any]:
    return [n for n in graph.node if name in n.input]


def capture_text_encoder(src: Path, dst: Path) -> dict[str, Any]:
    """Drop the Cast(int32 -> int64) of input_ids: the embedding Gather takes the int32 ids directly."""
    model = onnx.load(str(src))
    graph = model.graph
    casts = [n for n in _consumers(graph, "input_ids") if n.op_type == "Cast"]
    for cast in casts:
        for consumer in _consumers(graph, cast.output[0]):
            for i, name in enumerate(consumer.input):
                if name == cast.output[0]:
                    consumer.input[i] = "input_ids"
        graph.node.remove(cast)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return {"removed_casts": len(casts)}


def capture_unet(src: Path, dst: Path) -> dict[str, Any]:
    """The timestep input as float32: its Expand/Unsqueeze are type-generic and its Cast then casts float to float."""
    model = onnx.load(str(src))
    for value in model.graph.input:
        if value.name == "timestep":
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return {"timestep": "float32"}


def fixed_dims_basic(src: Path, dst: Path, latent: int) -> None:
    """ORT's basic (EP-independent) optimisation with every free dimension fixed: folds shape arithmetic."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    for name, value in {"batch": 1, "height": latent, "width": latent}.items():
        options.add_free_dimension_override_by_name(name, value)
    options.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])


def optimize_unet(src: Path, dst: Path, latent: int, variant: str) -> dict[str, Any]:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    folded = dst.with_name("folded.onnx")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fixed_dims_basic(src, folded, latent)
    options = FusionOptions("unet")
    options.enable_nhwc_conv = False  # NhwcConv is a CUDA/DirectML contrib op, not in ORT-web
    options.enable_packed_qkv = False
    options.enable_packed_kv = False
    if variant in ("opt-nogn", "opt-noattn"):
        options.enable_group_norm = False
        options.enable_skip_group_norm = False
    if variant == "opt-noattn":
        options.enable_attention = False
    model = optimize_model(
        str(folded), model_type="unet", num_heads=0, hidden_size=0, opt_level=0,
        optimization_options=options, use_gpu=True, only_onnxruntime=False,
    )
    model.save_model_to_file(str(dst))
    folded.unlink()
    counts: dict[str, int] = {}
    for node in model.model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return {"nodes": sum(counts.values()), "fused": {k: v for k, v in counts.items() if k in FUSED}}


FUSED = ("MultiHeadAttention", "Attention", "GroupNorm", "SkipGroupNorm", "BiasSplitGelu", "BiasAdd",
         "SkipLayerNormalization", "LayerNormalization", "FastGelu", "Gelu", "BiasGelu", "InstanceNormalization")
VARIANTS = ("capture", "opt-all", "opt-nogn", "opt-noattn")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", type=Path)
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--only", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    plain = args.root / "plain"
    report: dict[str, Any] = {}
    for variant in args.only.split(","):
        started = time.perf_counter()
        out = args.root / variant
        try:
            if variant == "capture":
                text, unet = "text_encoder/model.onnx", "unet/model.onnx"
                report[variant] = {
                    "text_encoder": capture_text_encoder(plain / text, out / text),
                    "unet": capture_unet(plain / unet, out / unet),
                }
            else:
                graph = "unet/model.onnx"
                report[variant] = optimize_unet(plain / graph, out / graph, args.latent, variant)
        except Exception as error:  # a failed variant is reported, the others still run
            report[variant] = {"error": f"{type(error).__name__}: {error}"[:500]}
            shutil.rmtree(out, ignore_errors=True)
        report[variant]["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps({variant: report[variant]}), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
