"""Builds the canvas tools' fixtures: tiny random-weight models with the real architectures and the real
file interfaces, their ONNX exports, PyTorch reference outputs and shared test vectors.

    PYTHONPATH=src:. .venv-fixtures/bin/python -m devtools.toolmodels.build --fixtures fixtures
    .venv/bin/python -m turbodraft.models.manifest        # then record the fixtures' sizes and sha256

Needs CPU torch and spandrel in the fixtures venv (docs/tools.md), never in the main .venv. Everything comes
from fixed seeds, so a rebuild with the same library versions writes the same files.

The references are computed with torch alone (F.interpolate for resizing, the model in PyTorch, torch
arithmetic for the pre- and post-processing), independent of turbodraft.tools, which the tests hold to them.
Random weights are calibrated (batch-norm statistics from real images, output layers rescaled) so outputs span
their range; deliberate pipeline mistakes are measured against each reference into sensitivity.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from devtools.toolmodels import archs
from turbodraft.models.derive import floor_pools
from turbodraft.tools import tiling

F32 = npt.NDArray[np.float32]
SEED = 20250115
OPSET = 17
EXPORT_TOLERANCE = 1e-4

# --- input images ------------------------------------------------------------------------------------------


def _scene(width: int, height: int, seed: int) -> F32:
    """A deterministic 'photo': gradients, discs, stripes and a little noise, RGB in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    img = np.stack([0.2 + 0.6 * u, 0.3 + 0.5 * v, 0.7 - 0.5 * u * v], axis=2)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(3, max(width, height) / 3)
        color = rng.uniform(0, 1, 3)
        mask = np.clip(r - np.hypot(x - cx, y - cy), 0, 1)[:, :, None]
        img = img * (1 - mask) + color * mask
    img += 0.15 * np.sin(x * 1.3 + y * 0.4)[:, :, None] * np.array([1.0, -0.5, 0.3])
    img += rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def _subject(width: int, height: int, seed: int) -> F32:
    """A foreground object (a bright blob with a darker rim) on a textured background."""
    bg = _scene(width, height, seed) * 0.5
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    d = np.hypot((x - width * 0.55) / (width * 0.28), (y - height * 0.5) / (height * 0.33))
    inside = np.clip((1.0 - d) * 6, 0, 1)[:, :, None]
    fg = np.stack([0.95 - 0.3 * d, 0.6 + 0.2 * np.cos(x / 3), 0.3 + 0.1 * d], axis=2)
    return np.clip(bg * (1 - inside) + fg * inside, 0, 1).astype(np.float32)


def _u8(img: F32) -> npt.NDArray[np.uint8]:
    return np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def make_inputs(out: Path) -> dict[str, npt.NDArray[np.uint8]]:
    """The PNGs every case starts from (both twins read these same 8-bit pixels)."""
    photo = _u8(_scene(40, 28, SEED))
    odd = _u8(_scene(30, 22, SEED + 1))
    subject = _u8(_subject(48, 36, SEED + 2))
    rgb = _u8(_scene(24, 20, SEED + 3))
    _y, x = np.mgrid[0:20, 0:24]
    alpha = np.clip((x - 4) * 32, 0, 255).astype(np.uint8)  # transparent left edge, a soft ramp, opaque right
    alpha[14:, :6] = 0
    rgba = np.concatenate([rgb, alpha[:, :, None]], axis=2)
    gray = _u8(_scene(20, 16, SEED + 4).mean(axis=2))
    images = {"photo": photo, "odd": odd, "subject": subject, "rgba": rgba, "gray": gray}
    modes = {"photo": "RGB", "odd": "RGB", "subject": "RGB", "rgba": "RGBA", "gray": "L"}
    for name, arr in images.items():
        Image.fromarray(arr, mode=modes[name]).save(out / f"{name}.png")
    return images


def split_u8(arr: npt.NDArray[np.uint8]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 [H, W(, C)] to RGB [1, 3, H, W] and alpha [1, 1, H, W] (None when opaque) in torch."""
    a = arr[:, :, None] if arr.ndim == 2 else arr
    color = a[:, :, :1].repeat(3, axis=2) if a.shape[2] in (1, 2) else a[:, :, :3]
    rgb = torch.from_numpy(color.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    alpha = None
    if a.shape[2] in (2, 4) and (a[:, :, -1] != 255).any():
        alpha = torch.from_numpy(a[:, :, -1].astype(np.float32) / 255.0)[None, None]
    return rgb, alpha


def rgba_of(rgb: torch.Tensor, alpha: torch.Tensor | None) -> F32:
    a = torch.ones_like(rgb[:, :1]) if alpha is None else alpha
    return torch.cat([rgb, a], 1)[0].permute(1, 2, 0).detach().numpy().astype(np.float32)


def aa_resize(t: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def psnr(a: F32, b: F32) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


# --- calibration of random weights --------------------------------------------------------------------------


def _calibrate_batchnorm(net: nn.Module, batch: torch.Tensor) -> None:
    """Batch-norm statistics of real images, as training leaves them: activations neither vanish nor explode."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration pass
    net.train()
    with torch.no_grad():
        net(batch)
    net.eval()


def _rescale_output(conv: nn.Conv2d, current: torch.Tensor, mean: float, std: float) -> None:
    """Make `conv`'s output (now `current`) have this mean and std: it is linear, so w*k and b*k + c."""
    k = std / float(current.std())
    c = mean - k * float(current.mean())
    with torch.no_grad():
        conv.weight.mul_(k)
        assert conv.bias is not None
        conv.bias.mul_(k).add_(c)


class _Capture:
    def __init__(self, module: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, _m: nn.Module, _i: Any, output: torch.Tensor) -> None:
        self.value = output.detach()

    def take(self) -> torch.Tensor:
        self.handle.remove()
        assert self.value is not None
        return self.value


def _calibration_batch(images: dict[str, npt.NDArray[np.uint8]], size: int) -> torch.Tensor:
    tensors = [aa_resize(split_u8(images[k])[0], size, size) for k in ("photo", "subject", "odd")]
    return torch.cat(tensors, 0)


# --- the models ---------------------------------------------------------------------------------------------


def build_srvgg(images: dict[str, npt.NDArray[np.uint8]]) -> nn.Module:
    torch.manual_seed(SEED)
    net = archs.srvgg_compact(num_feat=8, num_conv=2, scale=4).eval()
    last = net.body[-1]
    # The body's share of the output (the rest is the nearest-upsampled input): a clear, unsaturated residual.
    capture = _Capture(last)
    with torch.no_grad():
        net(_calibration_batch(images, 24))
    _rescale_output(last, capture.take(), 0.0, 0.12)
    return net


def build_rrdb(images: dict[str, npt.NDArray[np.uint8]], scale: int) -> nn.Module:
    """A random RRDB net behaves like no trained upscaler: its output is nearly blind to colour order. Three
    feature channels are made to carry the input through every stage (identity kernels in the first, upsampling
    and output convolutions), so the output is the upscaled input plus a random residual, as a real model's is."""
    torch.manual_seed(SEED + scale)
    net = archs.RrdbGraph(archs.rrdb(num_filters=8, num_blocks=1, scale=scale)).eval()
    seq = net.net.model
    convs = [m for i, m in enumerate(seq) if isinstance(m, nn.Conv2d) and i != 0]
    sources = [0, 4, 8] if scale == 2 else [0, 1, 2]  # after a 2x unshuffle, channel 4c is colour c's pixel
    with torch.no_grad():
        for channel, source in enumerate(sources):
            seq[0].weight[channel].mul_(0.1)
            seq[0].weight[channel, source, 1, 1] += 1.0
            seq[0].bias[channel] = 0.0
        for conv in convs[:-1]:
            for channel in range(3):
                conv.weight[channel].mul_(0.1)
                conv.weight[channel, channel, 1, 1] += 1.0
                conv.bias[channel] = 0.0
        trunk_out = [m for m in seq[1].modules() if isinstance(m, nn.Conv2d)][-1]
        trunk_out.weight.mul_(0.3)
        trunk_out.bias.mul_(0.3)
    last = convs[-1]
    identity = torch.zeros_like(last.weight)
    for channel in range(3):
        identity[channel, channel, 1, 1] = 1.0
    with torch.no_grad():
        last.weight.copy_(last.weight * (identity == 0))
    capture = _Capture(last)
    with torch.no_grad():
        net(_calibration_batch(images, 24))
    # Captured with the identity entries zeroed: the residual alone, set to 0.12 std around 0.
    _rescale_output(last, capture.take(), 0.0, 0.12)
    with torch.no_grad():
        last.weight.add_(identity)
    return net


def build_u2net(
    images: dict[str, npt.NDArray[np.uint8]],
    isnet: bool,
    resolution: int,
    normalise: Callable[[torch.Tensor], torch.Tensor],
) -> nn.Module:
    torch.manual_seed(SEED + (7 if isnet else 5))
    net = archs.U2Net(isnet=isnet, width=16 if isnet else 4)
    batch = normalise(_calibration_batch(images, resolution))
    _calibrate_batchnorm(net, batch)
    # The mask's logits, std 0.5 around 0.5: short of the sigmoid's ends, so a missing min-max stretch shows.
    first = net.side1 if isnet else net.outconv
    capture = _Capture(first)
    with torch.no_grad():
        net(batch)
    _rescale_output(first, capture.take(), 0.5, 0.5)
    return net


def build_style(images: dict[str, npt.NDArray[np.uint8]]) -> nn.Module:
    torch.manual_seed(SEED + 11)
    net = archs.TransformerNet(width=8).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.InstanceNorm2d):
                m.weight.uniform_(0.6, 1.6)
                m.bias.uniform_(-0.3, 0.3)
    capture = _Capture(net.deconv3)
    with torch.no_grad():
        net(_calibration_batch(images, 32) * 255)
    _rescale_output(net.deconv3.conv2d, capture.take(), 120.0, 55.0)
    return net


# --- export ------------------------------------------------------------------------------------------------


def export(net: nn.Module, example: torch.Tensor, path: Path, names: tuple[str, list[str]], dynamic: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    input_name, output_names = names
    axes: dict[str, dict[int, str]] | None = None
    if dynamic:
        axes = {input_name: {2: "height", 3: "width"}}
        axes.update({o: {2: "out_height", 3: "out_width"} for o in output_names})
    torch.onnx.export(
        net,
        (example,),
        str(path),
        input_names=[input_name],
        output_names=output_names,
        dynamic_axes=axes,
        opset_version=OPSET,
        dynamo=False,
        do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(str(path)))


def max_export_error(net: nn.Module, path: Path, inputs: list[torch.Tensor]) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            ref = net(x)
        ref = ref[0] if isinstance(ref, tuple) else ref
        got = session.run(None, {name: x.numpy()})[0]
        worst = max(worst, float(np.abs(got - ref.numpy()).max()))
    return worst


def receptive_radius(net: nn.Module, scale: int, size: int = 64) -> int:
    """Input pixels from a changed pixel to the farthest output it moves (in input pixels, rounded up)."""
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[:, :, size // 2, size // 2] += 1.0
    with torch.no_grad():
        diff = (net(y) - net(x)).abs().amax(1)[0]
    rows = torch.nonzero(diff.amax(1) > 1e-6)
    reach = max(abs(int(rows.min()) - size // 2 * scale), abs(int(rows.max()) - size // 2 * scale))
    return math.ceil(reach / scale)


# --- PyTorch reference pipelines ----------------------------------------------------------------------------


def upscale_ref(
    net: nn.Module, arr: npt.NDArray[np.uint8], scale: int, multiple: int, *, bgr: bool = False, in_scale: float = 1.0
) -> F32:
    rgb, alpha = split_u8(arr)
    h, w = rgb.shape[2:]
    x = F.pad(rgb, (0, -w % multiple, 0, -h % multiple), mode="replicate")
    if bgr:
        x = x[:, [2, 1, 0]]
    with torch.no_grad():
        y = net(x * in_scale)[:, :, : h * scale, : w * scale].clamp(0, 1)
    a = None if alpha is None else aa_resize(alpha, h * scale, w * scale).clamp(0, 1)
    return rgba_of(y, a)


def upscale_tiled_ref(
    net: nn.Module, arr: npt.NDArray[np.uint8], scale: int, multiple: int, tile: int, overlap: int
) -> F32:
    """Tiles run in torch on the twin's tile plan: how much a too-small overlap costs."""
    rgb, alpha = split_u8(arr)
    h, w = rgb.shape[2:]
    assert h % multiple == 0 and w % multiple == 0
    acc = torch.zeros(1, 3, h * scale, w * scale, dtype=torch.float64)
    total = torch.zeros(h * scale, w * scale, dtype=torch.float64)
    for t in tiling.plan(h, w, tile, overlap, scale, multiple):
        with torch.no_grad():
            y = net(rgb[:, :, t.y : t.y + t.height, t.x : t.x + t.width]).double()
        wt = torch.from_numpy(t.weight)
        ys, xs = slice(t.y * scale, (t.y + t.height) * scale), slice(t.x * scale, (t.x + t.width) * scale)
        acc[:, :, ys, xs] += y * wt
        total[ys, xs] += wt
    a = None if alpha is None else aa_resize(alpha, h * scale, w * scale).clamp(0, 1)
    return rgba_of((acc / total).float().clamp(0, 1), a)


def matte_ref(
    net: nn.Module,
    arr: npt.NDArray[np.uint8],
    p: dict[str, Any],
    *,
    normalise: bool = True,
    divide_by_max: bool | None = None,
    output: int = 0,
    minmax: bool = True,
) -> F32:
    rgb, alpha = split_u8(arr)
    h, w = rgb.shape[2:]
    res = p["resolution"]
    x = aa_resize(rgb, res, res)
    if p["divide_by_max"] if divide_by_max is None else divide_by_max:
        x = x / max(float(x.max()), 1e-6)
    if normalise:
        x = (x - torch.tensor(p["mean"]).view(1, 3, 1, 1)) / torch.tensor(p["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        m = net(x)[output][:, :1]
    if minmax:
        lo, hi = m.min(), m.max()
        if float(hi - lo) >= 1e-6:
            m = (m - lo) / (hi - lo)
    a = aa_resize(m, h, w).clamp(0, 1)
    if alpha is not None:
        a = a * alpha
    return rgba_of(rgb, a)


def style_ref(
    net: nn.Module,
    arr: npt.NDArray[np.uint8],
    strength: float,
    *,
    bgr: bool = False,
    in_scale: float = 255.0,
    out_scale: float = 255.0,
) -> F32:
    rgb, alpha = split_u8(arr)
    h, w = rgb.shape[2:]
    x = F.pad(rgb, (0, -w % 4, 0, -h % 4), mode="replicate")
    if bgr:
        x = x[:, [2, 1, 0]]
    with torch.no_grad():
        y = (net(x * in_scale) / out_scale).clamp(0, 1)[:, :, :h, :w]
    return rgba_of(rgb + strength * (y - rgb), alpha)


# --- fixture set ---------------------------------------------------------------------------------------------

UPSCALERS: dict[str, dict[str, Any]] = {
    "tiny-realesr-general-x4v3": {"scale": 4, "multiple": 1, "tile": 16, "overlap": 10},
    "tiny-realesrgan-x4plus": {"scale": 4, "multiple": 1, "tile": 48, "overlap": 40},
    "tiny-realesrgan-x2plus": {"scale": 2, "multiple": 2, "tile": 48, "overlap": 40},
}
MATTES: dict[str, dict[str, Any]] = {
    "tiny-u2netp": {
        "isnet": False,
        "resolution": 64,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "divide_by_max": True,
    },
    "tiny-isnet-general-use": {
        "isnet": True,
        "resolution": 64,
        "mean": [0.5, 0.5, 0.5],
        "std": [1.0, 1.0, 1.0],
        "divide_by_max": False,
    },
}
STYLE = "tiny-fast-neural-style"
#: A copy with fixed 32x32 dims, as the ONNX model zoo ships its style graphs (the free-dims build's test).
STYLE_FIXED = "style-fixed-32.onnx"


def _versions() -> dict[str, str]:
    import spandrel

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "spandrel": spandrel.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
    }


def _tensor(arr: npt.NDArray[np.uint8]) -> torch.Tensor:
    return split_u8(arr)[0]


def build(fixtures: Path) -> dict[str, Any]:
    torch.set_num_threads(2)
    out = fixtures / "tools"
    out.mkdir(parents=True, exist_ok=True)
    images = make_inputs(out)
    images["large"] = _u8(_scene(64, 52, SEED + 5))
    Image.fromarray(images["large"], mode="RGB").save(out / "large.png")
    cases: list[dict[str, Any]] = []
    models: dict[str, dict[str, Any]] = {}
    sensitivity: dict[str, dict[str, float]] = {}

    def case(cid: str, tool: str, model: str, image: str, reference: F32, **options: Any) -> None:
        np.save(out / f"{cid}.npy", reference.astype(np.float32))
        cases.append(
            {
                "id": cid,
                "tool": tool,
                "model": model,
                "input": f"{image}.png",
                "options": options,
                "reference": f"{cid}.npy",
                "width": reference.shape[1],
                "height": reference.shape[0],
            }
        )

    # Upscalers.
    for mid, p in UPSCALERS.items():
        net = build_srvgg(images) if "general" in mid else build_rrdb(images, p["scale"])
        radius = receptive_radius(net, p["scale"])
        if p["overlap"] // 2 < radius:
            raise SystemExit(f"{mid}: overlap {p['overlap']} leaves a margin under the receptive radius {radius}")
        path = fixtures / mid / "model.onnx"
        export(net, _tensor(images["photo"]), path, ("input", ["output"]), dynamic=True)
        models[mid] = {
            "export_max_abs_error": max_export_error(net, path, [_tensor(images[k]) for k in ("photo", "large")]),
            "receptive_radius": radius,
            "spandrel": archs.spandrel_detects(net.net if isinstance(net, archs.RrdbGraph) else net),
            "parameters": sum(t.numel() for t in net.parameters()),
        }
        for image in ("photo", "rgba", "gray", "large"):
            case(
                f"upscale-{mid}-{image}",
                "upscale",
                mid,
                image,
                upscale_ref(net, images[image], p["scale"], p["multiple"]),
            )
        good = upscale_ref(net, images["large"], p["scale"], p["multiple"])
        sensitivity[mid] = {
            "BGR channel order": psnr(upscale_ref(net, images["large"], p["scale"], p["multiple"], bgr=True), good),
            "input in [0, 255]": psnr(
                upscale_ref(net, images["large"], p["scale"], p["multiple"], in_scale=255.0), good
            ),
            "tiles without overlap": psnr(
                upscale_tiled_ref(net, images["large"], p["scale"], p["multiple"], p["tile"], 0), good
            ),
        }
        sensitivity[mid]["tiled as planned (not a mistake)"] = psnr(
            upscale_tiled_ref(net, images["large"], p["scale"], p["multiple"], p["tile"], p["overlap"]), good
        )

    # Background removal.
    for mid, p in MATTES.items():
        mean, std = torch.tensor(p["mean"]).view(1, 3, 1, 1), torch.tensor(p["std"]).view(1, 3, 1, 1)

        def normalise(
            x: torch.Tensor, p: dict[str, Any] = p, mean: torch.Tensor = mean, std: torch.Tensor = std
        ) -> torch.Tensor:
            if p["divide_by_max"]:
                x = x / x.amax(dim=(1, 2, 3), keepdim=True)
            return (x - mean) / std

        net = build_u2net(images, p["isnet"], p["resolution"], normalise)
        path = fixtures / mid / "model.onnx"
        outputs = [f"d{i}" for i in (range(1, 7) if p["isnet"] else range(7))]
        example = normalise(aa_resize(_tensor(images["subject"]), p["resolution"], p["resolution"]))
        # The export pools with ceil_mode, as rembg's files do; the fixture directory holds what a pull derives
        # from it (the floor-pools build of turbodraft.models.derive), which onnxruntime-web's WebGPU MaxPool can run.
        raw = out / f"{mid}.rembg.onnx"
        export(net, example, raw, ("input", outputs), dynamic=False)
        floor_pools(raw, path, p["resolution"])
        models[mid] = {
            "export_max_abs_error": max_export_error(net, path, [example]),
            "parameters": sum(t.numel() for t in net.parameters()),
        }
        for image in ("subject", "rgba", "gray"):
            case(f"matte-{mid}-{image}", "matte", mid, image, matte_ref(net, images[image], p))
        good = matte_ref(net, images["subject"], p)
        sens = {
            "no mean/std normalisation": psnr(matte_ref(net, images["subject"], p, normalise=False), good),
            "last output instead of the first": psnr(matte_ref(net, images["subject"], p, output=-1), good),
            "no min-max stretch": psnr(matte_ref(net, images["subject"], p, minmax=False), good),
        }
        sens["divide by max " + ("skipped" if p["divide_by_max"] else "added")] = psnr(
            matte_ref(net, images["subject"], p, divide_by_max=not p["divide_by_max"]), good
        )
        sensitivity[mid] = sens

    # Style.
    net = build_style(images)
    path = fixtures / STYLE / "model.onnx"
    example = _tensor(images["photo"]) * 255
    export(net, example, path, ("input1", ["output1"]), dynamic=True)
    fixed_example = aa_resize(_tensor(images["photo"]), 32, 32) * 255
    export(net, fixed_example, out / STYLE_FIXED, ("input1", ["output1"]), dynamic=False)
    models[STYLE] = {
        "export_max_abs_error": max_export_error(net, path, [example, _tensor(images["odd"])[:, :, :20, :28] * 255]),
        "parameters": sum(t.numel() for t in net.parameters()),
    }
    for image, strength in (("photo", 1.0), ("photo", 0.5), ("odd", 1.0), ("rgba", 1.0), ("gray", 1.0)):
        tag = f"{image}-s{int(strength * 100)}"
        case(f"style-{STYLE}-{tag}", "style", STYLE, image, style_ref(net, images[image], strength), strength=strength)
    good = style_ref(net, images["photo"], 1.0)
    sensitivity[STYLE] = {
        "BGR channel order": psnr(style_ref(net, images["photo"], 1.0, bgr=True), good),
        "output not divided by 255": psnr(style_ref(net, images["photo"], 1.0, out_scale=1.0), good),
        "strength 0.25 applied as 0.75": psnr(
            style_ref(net, images["photo"], 0.75), style_ref(net, images["photo"], 0.25)
        ),
        # Instance norm right after the first convolution makes the network nearly blind to a global input
        # scale; the real TransformerNet is too, so this mistake is harmless rather than undetected.
        "input in [0, 1] (instance norm absorbs it)": psnr(style_ref(net, images["photo"], 1.0, in_scale=1.0), good),
    }

    write_vectors(out)
    meta = {"versions": _versions(), "models": models, "cases": cases}
    (out / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / "sensitivity.json").write_text(json.dumps(sensitivity, indent=1) + "\n")
    return {"models": models, "sensitivity": sensitivity}


# --- shared vectors -----------------------------------------------------------------------------------------

RESIZE_CASES = [
    ((5, 7), (3, 4)),
    ((7, 5), (13, 11)),
    ((32, 32), (10, 10)),
    ((20, 24), (40, 36)),
    ((3, 9), (1, 1)),
    ((1, 1), (3, 2)),
    ((18, 24), (32, 32)),
    ((32, 32), (18, 24)),
    ((9, 4), (9, 4)),
    ((64, 5), (20, 3)),
]
#: (length, tile, overlap, scale, multiple)
TILING_CASES = [
    (10, 16, 4, 4, 1),
    (16, 16, 4, 4, 1),
    (17, 16, 4, 4, 1),
    (40, 16, 10, 4, 1),
    (28, 16, 10, 4, 1),
    (100, 48, 40, 2, 2),
    (37, 12, 0, 1, 1),
    (50, 20, 5, 2, 2),
    (1, 4, 2, 4, 1),
    (1000, 256, 32, 4, 1),
    (2048, 256, 32, 2, 2),
]


def write_vectors(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    resize = []
    for (ih, iw), (oh, ow) in RESIZE_CASES:
        x = rng.random((ih, iw), dtype=np.float32)
        y = aa_resize(torch.from_numpy(x)[None, None], oh, ow)[0, 0].numpy()
        resize.append({"input": x.tolist(), "height": oh, "width": ow, "expected": y.astype(np.float64).tolist()})
    (out / "resize.json").write_text(
        json.dumps(
            {
                "source": "torch.nn.functional.interpolate(mode='bilinear', align_corners=False, antialias=True)",
                "cases": resize,
            }
        )
        + "\n"
    )
    tiles = []
    for length, tile, overlap, scale, multiple in TILING_CASES:
        starts = tiling.axis_starts(length, tile, overlap, multiple)
        weights = tiling.axis_weights(length, starts, tile, overlap, scale)
        tiles.append(
            {
                "length": length,
                "tile": tile,
                "overlap": overlap,
                "scale": scale,
                "multiple": multiple,
                "starts": starts,
                "weights": [w.tolist() for w in weights] if length <= 100 else None,
            }
        )
    (out / "tiling.json").write_text(json.dumps({"source": "turbodraft.tools.tiling", "cases": tiles}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=Path("fixtures"))
    args = parser.parse_args()
    summary = build(args.fixtures)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
