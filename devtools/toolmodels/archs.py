"""PyTorch reference architectures of the canvas tools' models, at any width.

- Upscalers come from spandrel (MIT; chaiNNer's maintained implementations): SRVGGNetCompact (Real-ESRGAN
  general x4v3) and RRDBNet (RealESRGAN x4plus, and x2plus = RRDBNet x4 after a 2x pixel unshuffle).
- U2-Net (u2netp) and IS-Net (DIS, isnet-general-use) are written here from their papers' descriptions
  (Qin et al. 2020, 2022): ReSidual U-blocks (RSU) of height 4-7 in a two-level U; module names follow the
  authors' so that their published state dicts load into these classes at full width.
- TransformerNet is Johnson et al.'s feed-forward style network as PyTorch's fast_neural_style example has it
  (the ONNX model zoo's candy/mosaic/udnie/rain-princess graphs are exports of it).

`width` divides every channel count, so the tiny fixtures keep the real structure (depth, dilations, pooling,
skip connections, upsampling) at toy width.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def _stub_torchvision() -> None:
    """spandrel imports torchvision for two architectures we never build (LaMa, RestoreFormer); PyPI's
    torchvision does not match the local CPU torch build, so those names get an inert stand-in."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        tv = types.ModuleType("torchvision")
        transforms = types.ModuleType("torchvision.transforms")
        functional = types.ModuleType("torchvision.transforms.functional")

        class InterpolationMode:  # the enum's names only
            NEAREST = "nearest"
            BILINEAR = "bilinear"
            BICUBIC = "bicubic"

        def unavailable(*_: Any, **__: Any) -> Any:
            raise RuntimeError("torchvision is not installed in the fixtures venv")

        functional.InterpolationMode = InterpolationMode  # type: ignore[attr-defined]

        def attribute(name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)  # inspect and pickle probe dunders; a stub has none
            return unavailable

        functional.__getattr__ = attribute  # type: ignore[method-assign]
        transforms.functional = functional  # type: ignore[attr-defined]
        tv.transforms = transforms  # type: ignore[attr-defined]
        sys.modules.update(
            {"torchvision": tv, "torchvision.transforms": transforms, "torchvision.transforms.functional": functional}
        )


def srvgg_compact(num_feat: int, num_conv: int, scale: int) -> nn.Module:
    _stub_torchvision()
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=3, num_out_ch=3, num_feat=num_feat, num_conv=num_conv, upscale=scale, act_type="prelu")


def rrdb(num_filters: int, num_blocks: int, scale: int) -> nn.Module:
    """RRDBNet as Real-ESRGAN ships it: x4 direct; x2 as an x4 net on a 2x pixel-unshuffled input."""
    _stub_torchvision()
    from spandrel.architectures.ESRGAN import ESRGAN

    if scale == 4:
        return ESRGAN(in_nc=3, out_nc=3, num_filters=num_filters, num_blocks=num_blocks, scale=4)
    if scale == 2:
        return ESRGAN(in_nc=12, out_nc=3, num_filters=num_filters, num_blocks=num_blocks, scale=4, shuffle_factor=2)
    raise ValueError(f"RealESRGAN ships x2 and x4 RRDB nets, not x{scale}")


class RrdbGraph(nn.Module):
    """What the public x2plus ONNX exports compute: pixel unshuffle (even sides required), then the x4 net;
    spandrel's own forward also pads odd sizes, which those graphs do not."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = getattr(self.net, "shuffle_factor", None)
        if factor:
            x = F.pixel_unshuffle(x, factor)
        return self.net.model(x)


def spandrel_detects(net: nn.Module) -> dict[str, Any]:
    """spandrel's own reading of the state dict: proof that the tiny net has the real architecture's layout."""
    _stub_torchvision()
    from spandrel import ModelLoader

    descriptor = ModelLoader().load_from_state_dict(net.state_dict())
    return {"architecture": descriptor.architecture.id, "scale": descriptor.scale}


# --- U2-Net / IS-Net ---------------------------------------------------------------------------------------


class REBNCONV(nn.Module):
    """3x3 convolution (dilated), batch norm, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, dirate: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dirate, dilation=dirate, stride=stride)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


def upsample_like(src: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.interpolate(src, size=target.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """ReSidual U-block of height L (RSU-7 ... RSU-4): an encoder of L-1 levels with 2x max pooling, a dilated
    bottom, a decoder that upsamples and concatenates, and the input projection added back."""

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.height = height
        self.rebnconvin = REBNCONV(in_ch, out_ch)
        self.rebnconv1 = REBNCONV(out_ch, mid_ch)
        for level in range(2, height):
            setattr(self, f"pool{level - 1}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
            setattr(self, f"rebnconv{level}", REBNCONV(mid_ch, mid_ch))
        setattr(self, f"rebnconv{height}", REBNCONV(mid_ch, mid_ch, dirate=2))
        for level in range(height - 1, 1, -1):
            setattr(self, f"rebnconv{level}d", REBNCONV(mid_ch * 2, mid_ch))
        self.rebnconv1d = REBNCONV(mid_ch * 2, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        levels = [self.rebnconv1(hxin)]
        for level in range(2, self.height):
            pooled = getattr(self, f"pool{level - 1}")(levels[-1])
            levels.append(getattr(self, f"rebnconv{level}")(pooled))
        hx = getattr(self, f"rebnconv{self.height}")(levels[-1])
        for level in range(self.height - 1, 0, -1):
            skip = levels[level - 1]
            if hx.shape[2:] != skip.shape[2:]:
                hx = upsample_like(hx, skip)
            name = f"rebnconv{level}d"
            hx = getattr(self, name)(torch.cat((hx, skip), 1))
        return hx + hxin


class RSU4F(nn.Module):
    """The flat RSU-4: dilations 1, 2, 4, 8 instead of pooling (the deepest, lowest-resolution stages)."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.rebnconvin = REBNCONV(in_ch, out_ch)
        self.rebnconv1 = REBNCONV(out_ch, mid_ch)
        self.rebnconv2 = REBNCONV(mid_ch, mid_ch, dirate=2)
        self.rebnconv3 = REBNCONV(mid_ch, mid_ch, dirate=4)
        self.rebnconv4 = REBNCONV(mid_ch, mid_ch, dirate=8)
        self.rebnconv3d = REBNCONV(mid_ch * 2, mid_ch, dirate=4)
        self.rebnconv2d = REBNCONV(mid_ch * 2, mid_ch, dirate=2)
        self.rebnconv1d = REBNCONV(mid_ch * 2, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(torch.cat((hx4, hx3), 1))
        hx2d = self.rebnconv2d(torch.cat((hx3d, hx2), 1))
        hx1d = self.rebnconv1d(torch.cat((hx2d, hx1), 1))
        return hx1d + hxin


def _block(height: int, in_ch: int, mid_ch: int, out_ch: int) -> nn.Module:
    return RSU4F(in_ch, mid_ch, out_ch) if height == 0 else RSU(height, in_ch, mid_ch, out_ch)


#: (height, in, mid, out) of stage1..stage6 and stage5d..stage1d; height 0 is RSU-4F.
U2NETP_STAGES = (
    [(7, 3, 16, 64), (6, 64, 16, 64), (5, 64, 16, 64), (4, 64, 16, 64), (0, 64, 16, 64), (0, 64, 16, 64)],
    [(0, 128, 16, 64), (4, 128, 16, 64), (5, 128, 16, 64), (6, 128, 16, 64), (7, 128, 16, 64)],
)
ISNET_STAGES = (
    [(7, 64, 32, 64), (6, 64, 32, 128), (5, 128, 64, 256), (4, 256, 128, 512), (0, 512, 256, 512), (0, 512, 256, 512)],
    [(0, 1024, 256, 512), (4, 1024, 128, 256), (5, 512, 64, 128), (6, 256, 32, 64), (7, 128, 16, 64)],
)


def _narrow(stages: list[tuple[int, int, int, int]], width: int, keep_input: bool) -> list[tuple[int, int, int, int]]:
    out = []
    for i, (h, cin, mid, cout) in enumerate(stages):
        cin_n = cin if (keep_input and i == 0) else max(1, cin // width)
        out.append((h, cin_n, max(1, mid // width), max(1, cout // width)))
    return out


class U2Net(nn.Module):
    """U2-Net's outer U over six RSU stages. `isnet=False`: U2-Net(p), the fused map d0 first, then d1..d6.
    `isnet=True`: IS-Net (DIS), a strided input convolution first and the side maps d1..d6 (d1 is the mask)."""

    def __init__(self, isnet: bool = False, width: int = 1) -> None:
        super().__init__()
        self.isnet = isnet
        encoder, decoder = ISNET_STAGES if isnet else U2NETP_STAGES
        encoder = _narrow(encoder, width, keep_input=not isnet)
        decoder = _narrow(decoder, width, keep_input=False)
        if isnet:
            self.conv_in = nn.Conv2d(3, encoder[0][1], 3, stride=2, padding=1)
        for i, spec in enumerate(encoder, start=1):
            setattr(self, f"stage{i}", _block(*spec))
            if i < 6:
                setattr(self, f"pool{i}{i + 1}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
        for i, spec in zip(range(5, 0, -1), decoder, strict=True):
            setattr(self, f"stage{i}d", _block(*spec))
        side_in = [decoder[4][3], decoder[3][3], decoder[2][3], decoder[1][3], decoder[0][3], encoder[5][3]]
        for i, channels in enumerate(side_in, start=1):
            setattr(self, f"side{i}", nn.Conv2d(channels, 1, 3, padding=1))
        if not isnet:
            self.outconv = nn.Conv2d(6, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hx = self.conv_in(x) if self.isnet else x
        skips = []
        for i in range(1, 7):
            if i > 1:
                hx = getattr(self, f"pool{i - 1}{i}")(skips[-1])
            skips.append(getattr(self, f"stage{i}")(hx))
        hx = skips[5]
        decoded = {6: hx}
        for i in range(5, 0, -1):
            hx = getattr(self, f"stage{i}d")(torch.cat((upsample_like(hx, skips[i - 1]), skips[i - 1]), 1))
            decoded[i] = hx
        target = x if self.isnet else decoded[1]
        sides = []
        for i in range(1, 7):
            d = getattr(self, f"side{i}")(decoded[i])
            sides.append(d if d.shape[2:] == target.shape[2:] else upsample_like(d, target))
        if self.isnet:
            return tuple(torch.sigmoid(d) for d in sides)
        fused = self.outconv(torch.cat(sides, 1))
        return tuple(torch.sigmoid(d) for d in (fused, *sides))


# --- fast neural style -------------------------------------------------------------------------------------


class ConvLayer(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(in_ch, out_ch, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, 1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3, 1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(out)) + x


class UpsampleConvLayer(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, upsample: int) -> None:
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(in_ch, out_ch, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    """Johnson et al.: 9x9 conv, two stride-2 convs, five residual blocks, two x2 upsampling convs, 9x9 conv;
    instance norm throughout. Pixels in and out in [0, 255]."""

    def __init__(self, width: int = 1) -> None:
        super().__init__()
        c1, c2, c3 = 32 // width, 64 // width, 128 // width
        self.conv1 = ConvLayer(3, c1, 9, 1)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, 3, 2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, 3, 2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        for i in range(1, 6):
            setattr(self, f"res{i}", ResidualBlock(c3))
        self.deconv1 = UpsampleConvLayer(c3, c2, 3, 1, 2)
        self.in4 = nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = UpsampleConvLayer(c2, c1, 3, 1, 2)
        self.in5 = nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, 9, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)
