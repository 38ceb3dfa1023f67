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


def build(op: BuildOp, source: Path, target: Path, family: Family, quantize: Sequence[str] = ()) -> None:
    """Writes `target` from `source` by `op` (not `copy`: the pull moves such files itself)."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if op in ("taesd-decoder", "taesd-encoder"):
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
