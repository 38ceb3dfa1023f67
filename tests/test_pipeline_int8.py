"""The int8 tool (`turbodraft.models.quantize`) on the tiny fp32 fixture: it still runs and stays close."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from turbodraft.models.manifest import REPO_ROOT
from turbodraft.models.quantize import main, quantize_model_dir
from turbodraft.pipeline import GenerateRequest, Pipeline
from turbodraft.pipeline.compare import psnr

TINY = REPO_ROOT / "fixtures/tiny-sd-turbo"


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("int8")
    quantize_model_dir(TINY, target)
    return target


def op_types(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_unet_and_text_encoder_use_integer_kernels(int8_dir: Path) -> None:
    assert {"MatMulInteger", "ConvInteger"} <= op_types(int8_dir / "unet/model.onnx")
    assert "MatMulInteger" in op_types(int8_dir / "text_encoder/model.onnx")


def test_vae_decoder_is_copied_unchanged(int8_dir: Path) -> None:
    assert (int8_dir / "vae_decoder/model.onnx").read_bytes() == (
        TINY / "vae_decoder/model.onnx"
    ).read_bytes()


def test_quantized_graphs_are_smaller(int8_dir: Path) -> None:
    for graph in ("unet/model.onnx", "text_encoder/model.onnx"):
        assert (int8_dir / graph).stat().st_size < (TINY / graph).stat().st_size


@pytest.mark.parametrize("steps", [1, 4])
def test_int8_images_stay_close_to_fp32(int8_dir: Path, steps: int) -> None:
    request = GenerateRequest(prompt="a red fox in the snow", seed=3, steps=steps, width=64, height=64)
    fp32 = Pipeline.from_dir(TINY).generate(request).image
    int8 = Pipeline.from_dir(int8_dir).generate(request).image
    db = psnr(int8, fp32)
    print(f"PSNR int8 vs fp32, {steps} step(s): {db:.1f} dB")
    assert db >= 35.0


def test_refuses_a_directory_that_is_not_in_the_web_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path), str(tmp_path / "out")]) == 2
    assert "lacks text_encoder/model.onnx" in capsys.readouterr().err
