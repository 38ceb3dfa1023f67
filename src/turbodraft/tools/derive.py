"""Making public tool graphs run in the browser engine, without torch. Each rewrite is proven by onnxruntime
before the file is written (atomically); needs the `onnx` package, as the int8 recipe does.

- `free-dims`: the ONNX model zoo ships its fast-neural-style graphs with a fixed [1, 3, 224, 224] input,
  although the network (convolutions, instance norm, reflection padding, x2 nearest upsampling by a constant
  scale) works at any size divisible by 4. The input's and output's height and width become symbolic, stored
  intermediate shapes are dropped; the result must give an output of the input's size at two other sizes,
  and the original's values at the original size.
- `floor-pools`: U2-Net and IS-Net pool with `ceil_mode=1`, which onnxruntime-web's WebGPU MaxPool refuses
  ("ceil_mode kernel execution (padding) is not yet implemented"). At the model's own resolution (320, 1024)
  every pooled size is even, so floor and ceil agree: `ceil_mode` is cleared, and the result must equal the
  original at that resolution (else the rewrite is refused).

    python -m turbodraft.tools.derive free-dims mosaic-9.onnx style-mosaic/model.onnx
    python -m turbodraft.tools.derive floor-pools u2netp.onnx u2netp/u2netp.onnx --resolution 320
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from turbodraft.pipeline.images import write_atomic

#: Sizes the derived graph is run at besides its original one (multiples of 4, neither square).
CHECK_SIZES = ((36, 52), (64, 40))


class DeriveError(RuntimeError):
    """The graph cannot be made size-free, or the result does not behave."""


def _dims(value_info: Any) -> list[Any]:
    return list(value_info.type.tensor_type.shape.dim)


def free_dims(src: Path, dst: Path) -> dict[str, Any]:
    """Write `src` with free height/width to `dst` (atomically) and return what the checks measured."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(src))
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(graph.output) < 1:
        raise DeriveError(f"{src}: expected one image input, found {[i.name for i in inputs]}")
    image_in, image_out = inputs[0], graph.output[0]
    for value, names in ((image_in, ("height", "width")), (image_out, ("out_height", "out_width"))):
        dims = _dims(value)
        if len(dims) != 4:
            raise DeriveError(f"{src}: {value.name} has rank {len(dims)}, not 4 (NCHW)")
        dims[0].ClearField("dim_param")
        dims[0].dim_value = 1
        for dim, name in zip(dims[2:], names, strict=True):
            dim.ClearField("dim_value")
            dim.dim_param = name
    # Stored shapes of intermediate values would pin the old size.
    del graph.value_info[:]
    blob = model.SerializeToString()
    checks = _check(src.read_bytes(), blob, image_in.name, ort)
    write_atomic(dst, blob)
    return checks


def _check(original: bytes, derived: bytes, name: str, ort: Any) -> dict[str, Any]:
    providers = ["CPUExecutionProvider"]
    before = ort.InferenceSession(original, providers=providers)
    after = ort.InferenceSession(derived, providers=providers)
    shape = [d if isinstance(d, int) else 1 for d in before.get_inputs()[0].shape]
    rng = np.random.default_rng(0)
    x = (rng.random(shape, dtype=np.float32) * 255).astype(np.float32)
    same = float(np.abs(after.run(None, {name: x})[0] - before.run(None, {name: x})[0]).max())
    if same > 1e-3:
        raise DeriveError(f"the derived graph differs from the original at its own size by {same}")
    for h, w in CHECK_SIZES:
        y = after.run(None, {name: (rng.random((1, 3, h, w), dtype=np.float32) * 255)})[0]
        if tuple(y.shape) != (1, 3, h, w):
            raise DeriveError(f"at {w}x{h} the derived graph returned {list(y.shape)}: it is not size-free")
        if not np.isfinite(y).all():
            raise DeriveError(f"at {w}x{h} the derived graph returned NaN or Inf")
    return {"max_abs_difference_at_original_size": same, "checked_sizes": [list(s) for s in CHECK_SIZES]}


def floor_pools(src: Path, dst: Path, resolution: int) -> dict[str, Any]:
    """Write `src` with `ceil_mode=0` on every pooling node to `dst`, if that changes nothing at `resolution`."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(src))
    changed = 0
    for node in model.graph.node:
        if node.op_type not in ("MaxPool", "AveragePool"):
            continue
        for attribute in node.attribute:
            if attribute.name == "ceil_mode" and attribute.i != 0:
                attribute.i = 0
                changed += 1
    blob = model.SerializeToString()
    providers = ["CPUExecutionProvider"]
    before = ort.InferenceSession(src.read_bytes(), providers=providers)
    after = ort.InferenceSession(blob, providers=providers)
    name = before.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((1, 3, resolution, resolution)).astype(np.float32)
    try:
        derived_out = after.run(None, {name: x})
    except Exception as exc:  # onnxruntime's own error types are not exported
        raise DeriveError(f"at {resolution}x{resolution} the floor-pooled graph fails: {exc}") from exc
    worst = 0.0
    for a, b in zip(before.run(None, {name: x}), derived_out, strict=True):
        if a.shape != b.shape:
            raise DeriveError(
                f"at {resolution}x{resolution} floor pooling changes an output's shape: {a.shape} vs {b.shape}"
            )
        worst = max(worst, float(np.abs(a - b).max()))
    if worst > 1e-6:
        raise DeriveError(
            f"at {resolution}x{resolution} some pooled size is odd: floor pooling moves an output by {worst}"
        )
    write_atomic(dst, blob)
    return {"pools_changed": changed, "max_abs_difference": worst, "resolution": resolution}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m turbodraft.tools.derive", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    free = sub.add_parser("free-dims", help="give a fixed-size image graph free height and width")
    free.add_argument("src", type=Path)
    free.add_argument("dst", type=Path)
    pools = sub.add_parser("floor-pools", help="clear ceil_mode on pooling nodes where it changes nothing")
    pools.add_argument("src", type=Path)
    pools.add_argument("dst", type=Path)
    pools.add_argument("--resolution", type=int, required=True, help="the model's input size in pixels")
    args = parser.parse_args(argv)
    try:
        if args.command == "floor-pools":
            checks = floor_pools(args.src, args.dst, args.resolution)
        else:
            checks = free_dims(args.src, args.dst)
    except DeriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.dst}: {checks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
