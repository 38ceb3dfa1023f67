"""Make the `sd-turbo-int8` variant: dynamic int8 quantization of an fp32 model directory in the web layout.

    python -m turbodraft.models.quantize FP32_DIR INT8_DIR

Why these choices:
- wasm32 gives an onnxruntime-web session at most 4 GB; fp32 SD-Turbo is about 5 GB of weights, and 70% of the
  UNet's weights are convolutions, so the UNet quantizes Conv as well as MatMul/Gemm (about 0.9 GB int8).
- The text encoder's token embedding (Gather, 200 MB in fp32) is quantized too; it is dequantized per lookup.
- Weights are uint8 (QUInt8): onnxruntime's CPU ConvInteger (which wasm runs) has no int8-weight kernel.
- MatMulConstBOnly: only weight matrices are quantized; attention's activation x activation products stay
  float, which is where dynamic quantization loses most.
- The VAE graphs are copied as fp32: they are small (about 200 MB) and the decoder's convolutions set the
  image's fine detail, which int8 visibly blurs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from turbodraft.models.manifest import REQUIRED_GRAPHS, TOKENIZER_FILE, VAE_ENCODER_GRAPH


@dataclass(frozen=True)
class GraphPlan:
    path: str
    #: Operator types to quantize; empty means copy the graph unchanged.
    op_types: tuple[str, ...]


DEFAULT_PLAN = (
    GraphPlan("text_encoder/model.onnx", ("MatMul", "Gemm", "Gather")),
    GraphPlan("unet/model.onnx", ("MatMul", "Gemm", "Conv")),
    GraphPlan("vae_decoder/model.onnx", ()),
    GraphPlan(VAE_ENCODER_GRAPH, ()),
)


class QuantizeError(ValueError):
    pass


def quantize_graph(
    source: Path, target: Path, op_types: Sequence[str], *, external_data: bool = False
) -> None:
    # Imported here: onnx and the quantization tooling are only needed by this offline tool.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(
        source,
        target,
        op_types_to_quantize=list(op_types),
        weight_type=QuantType.QUInt8,
        per_channel=False,
        use_external_data_format=external_data,
        extra_options={"MatMulConstBOnly": True},
    )


def quantize_model_dir(
    source: Path, target: Path, plan: Sequence[GraphPlan] = DEFAULT_PLAN, *, external_data: bool = False
) -> list[Path]:
    """Quantize (or copy) each graph of `plan` found in `source`, copy tokenizer.json; return the files."""
    missing = [name for name in (*REQUIRED_GRAPHS, TOKENIZER_FILE) if not (source / name).is_file()]
    if missing:
        raise QuantizeError(
            f"{source} is not a model directory in the web layout: lacks {', '.join(missing)}"
        )
    if source.resolve() == target.resolve():
        raise QuantizeError("source and target must differ")
    written: list[Path] = []
    for graph in plan:
        src = source / graph.path
        if not src.is_file():
            continue
        dst = target / graph.path
        if graph.op_types:
            quantize_graph(src, dst, graph.op_types, external_data=external_data)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            data = src.with_name(src.name + "_data")
            if data.is_file():
                shutil.copyfile(data, dst.with_name(data.name))
        written.append(dst)
    (target / TOKENIZER_FILE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / TOKENIZER_FILE, target / TOKENIZER_FILE)
    written.append(target / TOKENIZER_FILE)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m turbodraft.models.quantize", description=__doc__.split("\n")[0]
    )
    parser.add_argument("source", type=Path, help="fp32 model directory in the web layout")
    parser.add_argument("target", type=Path, help="directory to write the int8 variant to")
    parser.add_argument(
        "--external-data",
        action="store_true",
        help="write weights beside the graphs (needed above 2 GB a graph)",
    )
    args = parser.parse_args(argv)
    try:
        written = quantize_model_dir(args.source, args.target, external_data=args.external_data)
    except QuantizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
