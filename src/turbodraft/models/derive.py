"""The graph builds behind derived variants: what `turbodraft models pull` makes from public ONNX files, with
the `onnx` package and onnxruntime's own quantization tools (no torch).

- `taesd-decoder`, `taesd-encoder`: public TAESD exports (deinferno/taesd-onnx, made for optimum's ONNX
  pipelines) are AutoencoderTiny's decode and encode in TAESD's own latent scale (scaling factor 1). The engine's
  VAE interface is SD's (decoder input x0 / 0.18215, encoder output the "mean" the pipeline multiplies by
  0.18215), so the decoder gets a Mul by the family's scaling factor in front and the encoder one by its inverse
  behind; I/O get the engine's names and free-dimension names (batch, height, width, image_height, image_width).
- `fp32`: an fp16 graph (fp32 I/O, the web exports' layout) widened to fp32 throughout.
- `int8`: widened, then `onnxruntime.quantization.quantize_dynamic` (uint8 weights, MatMulConstBOnly) on the
  listed operator types; see quantize.py for why those settings.
- `free-dims`: the ONNX model zoo ships its fast-neural-style graphs with a fixed [1, 3, 224, 224] input,
  although the network works at any size divisible by 4: the image input's and output's height and width become
  symbolic and stored intermediate shapes are dropped; the result must give the original's values at the
  original size and an output of the input's size at two other sizes.
- `floor-pools`: U2-Net and IS-Net pool with `ceil_mode=1`, which onnxruntime-web's WebGPU MaxPool refuses
  ("ceil_mode kernel execution (padding) is not yet implemented"). At the model's own resolution (320, 1024)
  every pooled size is even, so floor and ceil agree: `ceil_mode` is cleared, and the result must equal the
  original at that resolution (else the build is refused).
- `copy`: the input as it is (no build; the pull moves the verified download in place).

Every built graph is checked with onnx's checker and run once on onnxruntime at a small size before it is
accepted, so a public file with an unexpected interface fails the pull with a message, not a later draft.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from turbodraft.models.manifest import BuildOp, Family

#: Bumped when a build's output for the same input would change, so recorded build hashes are not compared
#: across recipe versions.
RECIPE_VERSION = 1
#: Above this a graph's weights go to an external data file (protobuf's limit is 2 GiB).
_EXTERNAL_DATA_ABOVE = 1_800_000_000

_FLOAT = 1  # onnx.TensorProto.FLOAT
_FLOAT16 = 10  # onnx.TensorProto.FLOAT16


class BuildError(ValueError):
    """A public input cannot be turned into the graph the engine expects; the message says why."""


def tool_versions() -> str:
    """What a build's bytes depend on besides its input: this recipe and the libraries that write the graph."""
    libs = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("onnx", "onnxruntime"))
    return f"turbodraft.models.derive {RECIPE_VERSION} ({libs})"


def build(
    op: BuildOp,
    source: Path,
    target: Path,
    family: Family | None,
    quantize: Sequence[str] = (),
    resolution: int | None = None,
) -> None:
    """Writes `target` from `source` by `op` (not `copy`: the pull moves such files itself). `family` is the
    draft model's constants (the TAESD builds need them); canvas tool models have none."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if op == "free-dims":
            free_dims(source, target)
        elif op == "floor-pools":
            if resolution is None:
                raise BuildError("floor-pools needs the model's resolution")
            floor_pools(source, target, resolution)
        elif op in ("taesd-decoder", "taesd-encoder"):
            if family is None:
                raise BuildError(f"{op} builds a draft model's graph: it needs the family's constants")
            model = onnx.load(str(source))
            wrapped = _taesd_decoder(model, family) if op == "taesd-decoder" else _taesd_encoder(model, family)
            _save(wrapped, target)
            _smoke_test(target, op, family)
        elif op == "fp32":
            _save(widen_to_fp32(onnx.load(str(source))), target)
        elif op == "int8":
            _quantize(source, target, quantize)
        else:
            raise BuildError(f"{op!r} is not a graph build")
    except BuildError:
        raise
    except Exception as exc:  # onnx and onnxruntime raise many unrelated types
        raise BuildError(f"building {target.name} from {source} ({op}) failed: {exc}") from exc


# --- TAESD ----------------------------------------------------------------------------------------------------


def _single_io(model: Any, what: str) -> tuple[Any, Any]:
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise BuildError(
            f"a TAESD {what} graph has one input and one output; this one has "
            f"{[i.name for i in inputs]} -> {[o.name for o in model.graph.output]}"
        )
    return inputs[0], model.graph.output[0]


def _rename_value(graph: Any, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
    for value in (*graph.value_info, *graph.output):
        if value.name == old:
            value.name = new


def _set_shape(value: Any, dims: Sequence[int | str], elem_type: int = _FLOAT) -> None:
    value.type.tensor_type.elem_type = elem_type
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for size in dims:
        dim = shape.dim.add()
        if isinstance(size, int):
            dim.dim_value = size
        else:
            dim.dim_param = size


def _scale_node(graph: Any, source: str, target: str, factor: float, name: str, *, first: bool = True) -> None:
    """target = source * factor, in fp32, as the graph's first (or last) node."""
    from onnx import helper, numpy_helper

    constant = f"{name}/factor"
    graph.initializer.append(numpy_helper.from_array(np.array(factor, dtype=np.float32), constant))
    node = helper.make_node("Mul", [source, constant], [target], name=name)
    if first:
        graph.node.insert(0, node)
    else:
        graph.node.append(node)


def _latent_dims(family: Family) -> list[int | str]:
    return ["batch", family.vae.latent_channels, "height", "width"]


def _pixel_dims() -> list[int | str]:
    return ["batch", 3, "image_height", "image_width"]


def _taesd_decoder(model: Any, family: Family) -> Any:
    """latent_sample (x0 / scaling_factor) -> Mul(scaling_factor) -> TAESD decode -> sample in [-1, 1]."""
    from onnx import helper

    graph = model.graph
    raw_in, raw_out = _single_io(model, "decoder")
    if raw_in.type.tensor_type.elem_type != _FLOAT:
        raise BuildError("the TAESD decoder's input is not float32")
    inner = "taesd/latents"
    _rename_value(graph, raw_in.name, inner)
    _scale_node(graph, "latent_sample", inner, family.vae.scaling_factor, "to_taesd_scale")
    graph.input.remove(raw_in)
    graph.input.insert(0, helper.make_tensor_value_info("latent_sample", _FLOAT, _latent_dims(family)))
    _name_output(graph, raw_out, "sample", _pixel_dims())
    model.producer_name = "turbodraft.models.derive"
    return model


def _taesd_encoder(model: Any, family: Family) -> Any:
    """sample in [-1, 1] -> TAESD encode -> Mul(1 / scaling_factor) -> latent_sample (the "mean")."""
    from onnx import helper

    graph = model.graph
    raw_in, raw_out = _single_io(model, "encoder")
    if raw_in.type.tensor_type.elem_type != _FLOAT:
        raise BuildError("the TAESD encoder's input is not float32")
    if raw_in.name != "sample":
        _rename_value(graph, raw_in.name, "sample")
    graph.input.remove(raw_in)
    graph.input.insert(0, helper.make_tensor_value_info("sample", _FLOAT, _pixel_dims()))
    if raw_out.type.tensor_type.elem_type != _FLOAT:
        raise BuildError("the TAESD encoder's output is not float32")
    inner = "taesd/latents"
    _rename_value(graph, raw_out.name, inner)
    graph.output.remove(next(o for o in graph.output if o.name == inner))
    _scale_node(graph, inner, "latent_sample", 1.0 / family.vae.scaling_factor, "from_taesd_scale", first=False)
    graph.output.append(helper.make_tensor_value_info("latent_sample", _FLOAT, _latent_dims(family)))
    model.producer_name = "turbodraft.models.derive"
    return model


def _name_output(graph: Any, raw_out: Any, name: str, dims: Sequence[int | str]) -> None:
    from onnx import helper

    if raw_out.type.tensor_type.elem_type != _FLOAT:
        raise BuildError("the TAESD graph's output is not float32")
    if raw_out.name != name:
        _rename_value(graph, raw_out.name, name)
    graph.output.remove(next(o for o in graph.output if o.name == name))
    graph.output.append(helper.make_tensor_value_info(name, _FLOAT, dims))


def _smoke_test(path: Path, op: BuildOp, family: Family) -> None:
    """One run at an 8x8 latent: the graph loads and maps the engine's shapes to the engine's shapes."""
    import onnxruntime as ort

    down, channels = family.vae.downscale, family.vae.latent_channels
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if op == "taesd-decoder":
        feed = {"latent_sample": np.zeros((1, channels, 8, 8), np.float32)}
        want = (1, 3, 8 * down, 8 * down)
    else:
        feed = {"sample": np.zeros((1, 3, 8 * down, 8 * down), np.float32)}
        want = (1, channels, 8, 8)
    (out,) = session.run(None, feed)
    if tuple(out.shape) != want or not np.isfinite(out).all():
        raise BuildError(f"{path.name}: gives {tuple(out.shape)} (finite: {bool(np.isfinite(out).all())}), not {want}")


# --- fp32 and int8 ---------------------------------------------------------------------------------------------


def widen_to_fp32(model: Any) -> Any:
    """Every float16 in the graph (weights, constants, casts, declared types) becomes float32, subgraphs too."""
    from onnx import numpy_helper

    def tensor(t: Any) -> None:
        if t.data_type == _FLOAT16:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))

    def value(v: Any) -> None:
        if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type == _FLOAT16:
            v.type.tensor_type.elem_type = _FLOAT

    def graph(g: Any) -> None:
        for t in g.initializer:
            tensor(t)
        for v in (*g.input, *g.output, *g.value_info):
            value(v)
        for node in g.node:
            for attr in node.attribute:
                if attr.name in ("to", "dtype") and attr.i == _FLOAT16:
                    attr.i = _FLOAT
                if attr.HasField("t"):
                    tensor(attr.t)
                for t in attr.tensors:
                    tensor(t)
                if attr.HasField("g"):
                    graph(attr.g)
                for sub in attr.graphs:
                    graph(sub)

    graph(model.graph)
    return model


def _save(model: Any, target: Path) -> None:
    import onnx

    partial = target.with_name(target.name + ".build.tmp")
    if model.ByteSize() > _EXTERNAL_DATA_ABOVE:
        raise BuildError(f"{target.name} would be {model.ByteSize()} bytes, over what one ONNX file holds")
    onnx.checker.check_model(model)
    onnx.save(model, str(partial))
    os.replace(partial, target)


def _quantize(source: Path, target: Path, op_types: Sequence[str]) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = widen_to_fp32(onnx.load(str(source)))
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        widened = Path(scratch) / "fp32.onnx"
        # The widened UNet is ~3.5 GB: its weights must go beside the graph, which quantize_dynamic reads.
        external = model.ByteSize() > _EXTERNAL_DATA_ABOVE
        onnx.save(model, str(widened), save_as_external_data=external, location="fp32.onnx.data")
        del model
        partial = target.with_name(target.name + ".build.tmp")
        quantize_dynamic(
            widened,
            partial,
            op_types_to_quantize=list(op_types),
            weight_type=QuantType.QUInt8,
            per_channel=False,
            use_external_data_format=False,
            extra_options={"MatMulConstBOnly": True},
        )
    os.replace(partial, target)


# --- canvas tool graphs ------------------------------------------------------------------------------------

#: Sizes the derived graph is run at besides its original one (multiples of 4, neither square).
CHECK_SIZES = ((36, 52), (64, 40))


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
        raise BuildError(f"{src}: expected one image input, found {[i.name for i in inputs]}")
    image_in, image_out = inputs[0], graph.output[0]
    for value, names in ((image_in, ("height", "width")), (image_out, ("out_height", "out_width"))):
        dims = _dims(value)
        if len(dims) != 4:
            raise BuildError(f"{src}: {value.name} has rank {len(dims)}, not 4 (NCHW)")
        dims[0].ClearField("dim_param")
        dims[0].dim_value = 1
        for dim, name in zip(dims[2:], names, strict=True):
            dim.ClearField("dim_value")
            dim.dim_param = name
    # Stored shapes of intermediate values would pin the old size.
    del graph.value_info[:]
    blob = model.SerializeToString()
    checks = _check(src.read_bytes(), blob, image_in.name, ort)
    _write_bytes(blob, dst)
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
        raise BuildError(f"the derived graph differs from the original at its own size by {same}")
    for h, w in CHECK_SIZES:
        y = after.run(None, {name: (rng.random((1, 3, h, w), dtype=np.float32) * 255)})[0]
        if tuple(y.shape) != (1, 3, h, w):
            raise BuildError(f"at {w}x{h} the derived graph returned {list(y.shape)}: it is not size-free")
        if not np.isfinite(y).all():
            raise BuildError(f"at {w}x{h} the derived graph returned NaN or Inf")
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
        raise BuildError(f"at {resolution}x{resolution} the floor-pooled graph fails: {exc}") from exc
    worst = 0.0
    for a, b in zip(before.run(None, {name: x}), derived_out, strict=True):
        if a.shape != b.shape:
            raise BuildError(
                f"at {resolution}x{resolution} floor pooling changes an output's shape: {a.shape} vs {b.shape}"
            )
        worst = max(worst, float(np.abs(a - b).max()))
    if worst > 1e-6:
        raise BuildError(
            f"at {resolution}x{resolution} some pooled size is odd: floor pooling moves an output by {worst}"
        )
    _write_bytes(blob, dst)
    return {"pools_changed": changed, "max_abs_difference": worst, "resolution": resolution}


def _write_bytes(blob: bytes, target: Path) -> None:
    partial = target.with_name(target.name + ".build.tmp")
    partial.write_bytes(blob)
    os.replace(partial, target)
