"""The `free-dims` and `floor-pools` builds of `turbodraft models pull`: a fixed-size style graph (as the ONNX
model zoo ships them) made size-free without torch, and proven equal to the network exported with free sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.tools_support import TOOLS
from turbodraft.models.derive import BuildError, floor_pools, free_dims

FIXED = TOOLS / "style-fixed-32.onnx"
DYNAMIC = TOOLS.parent / "tiny-fast-neural-style" / "model.onnx"


def test_the_zoo_like_fixture_really_is_fixed_size() -> None:
    session = ort.InferenceSession(str(FIXED), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 32, 32]
    with pytest.raises(Exception, match=r"(?i)dimension"):
        session.run(None, {"input1": np.zeros((1, 3, 40, 28), np.float32)})


def test_free_dims_gives_the_same_network_at_any_size(tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    checks = free_dims(FIXED, out)
    assert checks["max_abs_difference_at_original_size"] < 1e-3
    derived = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    reference = ort.InferenceSession(str(DYNAMIC), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((1, 3, 28, 40), dtype=np.float32) * 255
    got = derived.run(None, {"input1": x})[0]
    want = reference.run(None, {"input1": x})[0]
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_a_graph_that_is_not_one_nchw_image_is_refused(tmp_path: Path) -> None:
    model = onnx.load(str(FIXED))
    model.graph.input[0].type.tensor_type.shape.dim.pop()
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(BuildError, match="rank 3"):
        free_dims(bad, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize("model", ["tiny-u2netp", "tiny-isnet-general-use"])
def test_floor_pools_gives_the_fixture_webgpu_runs(model: str, tmp_path: Path) -> None:
    """rembg-like exports pool with ceil_mode; cleared at the model's resolution, nothing changes."""
    raw = TOOLS / f"{model}.rembg.onnx"
    assert any(
        a.name == "ceil_mode" and a.i == 1
        for n in onnx.load(str(raw)).graph.node
        if n.op_type == "MaxPool"
        for a in n.attribute
    )
    out = tmp_path / "model.onnx"
    checks = floor_pools(raw, out, 64)
    assert checks["pools_changed"] > 0 and checks["max_abs_difference"] == 0.0
    derived = onnx.load(str(out))
    assert all(
        a.i == 0 for n in derived.graph.node if n.op_type == "MaxPool" for a in n.attribute if a.name == "ceil_mode"
    )
    assert out.read_bytes() == (TOOLS.parent / model / "model.onnx").read_bytes()


def test_floor_pools_is_refused_where_a_pooled_size_is_odd(tmp_path: Path) -> None:
    model = onnx.load(str(TOOLS / "tiny-u2netp.rembg.onnx"))
    for value in (*model.graph.input, *model.graph.output):
        for dim, name in zip(value.type.tensor_type.shape.dim[2:], ("h", "w"), strict=True):
            dim.dim_param = name
    free = tmp_path / "free.onnx"
    onnx.save(model, str(free))
    with pytest.raises(BuildError, match=r"odd|shape|fails"):
        floor_pools(free, tmp_path / "out.onnx", 60)
    assert not (tmp_path / "out.onnx").exists()


def test_a_style_model_pulls_in_one_command_from_the_zoo_layout(tmp_path: Path) -> None:
    """`turbodraft models pull style-mosaic` fetches the zoo's fixed-size graph and builds the size-free one."""
    from tests.hub_server import HubServer
    from turbodraft.models.lockfile import read_lock
    from turbodraft.models.manifest import load_manifest
    from turbodraft.models.mirror import pull

    model = load_manifest().model("style-mosaic")
    build = model.files[0].build
    assert build is not None and build.op == "free-dims"
    hub = HubServer()
    hub.start()
    try:
        hub.add_commit(build.input.repo, {build.input.path: FIXED.read_bytes()})
        lock = pull(model, tmp_path / "models", endpoint=hub.url)
    finally:
        hub.stop()
    built = tmp_path / "models" / "style-mosaic" / model.files[0].path
    session = ort.InferenceSession(str(built), providers=["CPUExecutionProvider"])
    y = session.run(None, {"input1": np.zeros((1, 3, 28, 40), np.float32)})[0]
    assert y.shape == (1, 3, 28, 40)
    assert read_lock(tmp_path / "models", "style-mosaic") == lock
    assert lock.file(model.files[0].path).built_from is not None
