"""Full-size SD-Turbo-architecture models with random weights, exported in the engine's ONNX layout, and the
native PyTorch fp16 baseline on the same card (the speed issue's baselines (b) and inputs for (a)).

Runs on the GPU machine (torch, transformers, onnx there; diffusers carried as a wheel). Weights are random:
speed does not depend on them, and SD-Turbo's real weights cannot be fetched there. The ONNX interface is the
fixtures' (src/turbodraft/models/fixtures.py): its wrappers and shape pinning are reused at full width.

    python bench/gpu/build_models.py --out /tmp/sdt --json /tmp/native.json          (full size, CUDA)
    python bench/gpu/build_models.py --tiny --out /tmp/sdt-tiny --device cpu --skip-native   (dry run)

Writes, under --out, model directories in the web layout (each with tokenizer.json):
  plain/   text_encoder, unet, vae_decoder as the legacy exporter writes them (what the demo would load)
  mha/     the same weights with every diffusers Attention exported as com.microsoft MultiHeadAttention
  taesd/   vae_decoder only: a tiny decoder (the TAESD architecture) behind the same interface, exported by
           turbodraft.models.taesd (the engine's own exporter)
  with --extra (the first run's exploration): mha/ (every diffusers Attention as com.microsoft
  MultiHeadAttention) and taesd-gate/ (ReLU written as x*(x>0), which ORT cannot fuse into FusedConv)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import shutil
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))


def _bare_package(name: str, folder: Path) -> None:
    """Register a package without running its __init__: the GPU machine lacks the gateway's dependencies
    (pydantic), which turbodraft.pipeline's __init__ pulls in, and fixtures needs only pipeline.noise (numpy)."""
    module = types.ModuleType(name)
    module.__path__ = [str(folder)]
    sys.modules.setdefault(name, module)


_bare_package("turbodraft.pipeline", REPO / "src" / "turbodraft" / "pipeline")
from turbodraft.models import fixtures  # noqa: E402  (after the path set-up above)
from turbodraft.models import taesd as taesd_export  # noqa: E402

FULL_TEXT = {"hidden": 1024, "layers": 23, "heads": 16, "intermediate": 4096}
LATENT = 64
SIGMA = 14.614641  # sigma at t=999 (browser-diffusion.md)


# ----------------------------------------------------------------------------------------------- models


def build_full_models(device: str) -> fixtures.TinyModels:
    """stabilityai/sd-turbo's architecture (SD 2.1): OpenCLIP-H text tower, 865M UNet, SD VAE; random weights."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.device(device):
        torch.manual_seed(1)
        config = CLIPTextConfig(
            vocab_size=fixtures.VOCAB_SIZE,
            hidden_size=FULL_TEXT["hidden"],
            intermediate_size=FULL_TEXT["intermediate"],
            num_hidden_layers=FULL_TEXT["layers"],
            num_attention_heads=FULL_TEXT["heads"],
            max_position_embeddings=fixtures.MAX_LENGTH,
            hidden_act="gelu",
            projection_dim=FULL_TEXT["hidden"],
            bos_token_id=fixtures.BOS_ID,
            eos_token_id=fixtures.EOS_ID,
            pad_token_id=1,
        )
        config._attn_implementation = "eager"  # the legacy ONNX tracer handles eager attention best
        text_encoder = CLIPTextModel(config).eval()
        torch.manual_seed(2)
        unet = UNet2DConditionModel(
            sample_size=LATENT,
            in_channels=4,
            out_channels=4,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            block_out_channels=(320, 640, 1280, 1280),
            layers_per_block=2,
            attention_head_dim=(5, 10, 20, 20),
            cross_attention_dim=FULL_TEXT["hidden"],
            use_linear_projection=True,
            norm_num_groups=32,
            flip_sin_to_cos=True,
            freq_shift=0,
            act_fn="silu",
        ).eval()
        torch.manual_seed(3)
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=768,
            scaling_factor=fixtures.SCALING_FACTOR,
        ).eval()
    return fixtures.TinyModels(text_encoder=text_encoder, unet=unet, vae=vae)


def build_taesd(device: str) -> Any:
    """The TAESD architecture (diffusers' AutoencoderTiny defaults), random weights."""
    import torch
    from diffusers import AutoencoderTiny

    with torch.device(device):
        torch.manual_seed(4)
        return AutoencoderTiny().eval()


def count_params(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


# ----------------------------------------------------------------------------------------------- fused attention


def mha_processor_class() -> type:
    """A diffusers attention processor that exports as ORT's MultiHeadAttention contrib op.

    Eager (and traced) it computes scaled_dot_product_attention; the ONNX exporter sees one fused node with
    q, k, v of shape [batch, tokens, heads*head_dim] instead of the unfused MatMul/Softmax pattern, which ORT's
    own optimizer does not recognise in legacy exports (the shape-derived sqrt scales).
    """
    import torch
    import torch.nn.functional as F

    class MultiHeadAttention(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, q: Any, k: Any, v: Any, heads: int, scale: float) -> Any:
            b, s, _ = q.shape

            def split(x: Any) -> Any:
                return x.view(b, -1, heads, x.shape[-1] // heads).transpose(1, 2)

            out = F.scaled_dot_product_attention(split(q), split(k), split(v), scale=scale)
            return out.transpose(1, 2).reshape(b, s, -1)

        @staticmethod
        def symbolic(g: Any, q: Any, k: Any, v: Any, heads: int, scale: float) -> Any:
            out = g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads, scale_f=scale)
            out.setType(q.type())
            return out

    class MhaProcessor:
        """diffusers' AttnProcessor2_0 minus what SD's blocks never use (masks, q/k norms)."""

        def __call__(
            self,
            attn: Any,
            hidden_states: Any,
            encoder_hidden_states: Any = None,
            attention_mask: Any = None,
            temb: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            if attention_mask is not None:
                raise ValueError("MhaProcessor does not take an attention mask")
            residual = hidden_states
            if attn.spatial_norm is not None:
                hidden_states = attn.spatial_norm(hidden_states, temb)
            four_d = hidden_states.ndim == 4
            if four_d:
                b, c, h, w = hidden_states.shape
                hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
            if attn.group_norm is not None:
                hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
            query = attn.to_q(hidden_states)
            if encoder_hidden_states is None:
                encoder_hidden_states = hidden_states
            elif attn.norm_cross:
                encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
            key = attn.to_k(encoder_hidden_states)
            value = attn.to_v(encoder_hidden_states)
            hidden_states = MultiHeadAttention.apply(query, key, value, attn.heads, float(attn.scale))
            hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
            if four_d:
                hidden_states = hidden_states.transpose(-1, -2).reshape(b, c, h, w)
            if attn.residual_connection:
                hidden_states = hidden_states + residual
            return hidden_states / attn.rescale_output_factor

    return MhaProcessor


# ----------------------------------------------------------------------------------------------- export


@contextlib.contextmanager
def fixture_sizes(text_hidden: int, latent: int) -> Iterator[None]:
    """The fixtures' wrappers read their example-input sizes from module constants: set them for this export."""
    saved = fixtures.TEXT_HIDDEN, fixtures.LATENT_SIZE, fixtures.IMAGE_SIZE
    fixtures.TEXT_HIDDEN, fixtures.LATENT_SIZE, fixtures.IMAGE_SIZE = text_hidden, latent, 8 * latent
    try:
        yield
    finally:
        fixtures.TEXT_HIDDEN, fixtures.LATENT_SIZE, fixtures.IMAGE_SIZE = saved


def io_shapes(text_hidden: int) -> dict[str, dict[str, list[int | str]]]:
    shapes = json.loads(json.dumps(fixtures.IO_SHAPES))
    shapes["text_encoder"]["last_hidden_state"][2] = text_hidden
    shapes["unet"]["encoder_hidden_states"][2] = text_hidden
    return dict(shapes)


def export_graphs(
    models: fixtures.TinyModels, out_dir: Path, graphs: tuple[str, ...], device: str, text_hidden: int, latent: int
) -> dict[str, float]:
    """The fixtures' fp16 wrappers (fp16 inside, fp32 I/O), traced on `device`; seconds per graph."""
    import onnx
    import torch

    seconds: dict[str, float] = {}
    shapes = io_shapes(text_hidden)
    with fixture_sizes(text_hidden, latent):
        wrappers = fixtures._wrappers(models, half=True)
    for graph in graphs:
        module, inputs, kwargs = wrappers[graph]
        start = time.perf_counter()
        path = out_dir / graph / "model.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        module = module.to(device)
        with torch.no_grad():
            torch.onnx.export(
                module.eval(),
                tuple(x.to(device) for x in inputs),
                str(path),
                dynamo=False,
                opset_version=17,
                do_constant_folding=True,
                custom_opsets={"com.microsoft": 1},
                **kwargs,
            )
        model = onnx.load(str(path))
        fixtures._pin_io_shapes(model, shapes[graph])
        model.producer_name = "bench/gpu/build_models.py"
        onnx.save(model, str(path))
        seconds[graph] = round(time.perf_counter() - start, 1)
        del module
    return seconds


def export_taesd(taesd: Any, out_dir: Path, device: str, latent: int, gate_relu: bool) -> None:
    """TAESD's decoder behind the vae_decoder interface, through the engine's own exporter
    (turbodraft.models.taesd: what `python -m turbodraft.models.taesd export` writes for the real weights)."""
    import torch

    class GateRelu(torch.nn.Module):  # type: ignore[misc]
        """ReLU as x * (x > 0): ORT fuses Conv+Relu into FusedConv, which JSEP (1.30) has for float32 only,
        and JSEP has no Max kernel (Max(x, 0) fell back to the CPU: 940 ms for the decoder)."""

        def forward(self, x: Any) -> Any:
            return x * (x > 0).to(x.dtype)

    def swap_relus(module: Any) -> None:
        for name, child in module.named_children():
            if isinstance(child, torch.nn.ReLU):
                setattr(module, name, GateRelu())
            else:
                swap_relus(child)

    model = copy.deepcopy(taesd)
    if gate_relu:
        swap_relus(model)
    taesd_export.export_decoder(model, out_dir / "vae_decoder" / "model.onnx", half=True, latent=latent, device=device)


def tokenizer_json() -> str:
    """The fixtures' tokenizer.json: CLIP's real 49408-token BPE, as SD-Turbo uses it."""
    return (REPO / "fixtures" / "tiny-sd-turbo-fp16" / "tokenizer.json").read_text(encoding="utf-8")


def file_mb(directory: Path) -> dict[str, float]:
    return {p.parent.name: round(p.stat().st_size / 2**20, 1) for p in sorted(directory.glob("*/model.onnx"))}


# ----------------------------------------------------------------------------------------------- native


def time_cuda(fn: Callable[[], Any], runs: int, warmup: int = 3) -> float:
    """Median wall ms of `fn` with the GPU drained before and after each call."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


REFERENCE_PROMPT = "a watercolor fox in a snowy forest"  # bench/gpu/node/bench.ts uses the same prompt and seed
REFERENCE_SEED = 42


def reference_images(models: fixtures.TinyModels, taesd: Any, out: Path, latent: int) -> dict[str, Any]:
    """The engine's image computed natively (PyTorch fp32, same tokens and noise), for a PSNR per configuration."""
    import numpy as np
    import torch
    from tokenizers import Tokenizer

    from turbodraft.pipeline.noise import randn

    device = next(models.unet.parameters()).device
    content = Tokenizer.from_str(tokenizer_json()).encode(REFERENCE_PROMPT, add_special_tokens=False).ids
    ids = torch.tensor([fixtures.frame_ids(content)[0]], device=device)
    noise = torch.from_numpy(randn(REFERENCE_SEED, (1, 4, latent, latent))).to(device)
    written: dict[str, Any] = {"prompt": REFERENCE_PROMPT, "seed": REFERENCE_SEED}
    with torch.inference_mode():
        embedding = models.text_encoder.float()(ids).last_hidden_state
        latents = noise * SIGMA
        eps = models.unet.float()(
            latents / math.sqrt(SIGMA**2 + 1), torch.tensor([999], device=device), embedding, return_dict=False
        )[0]
        x0 = latents - SIGMA * eps
        for name, image in (
            ("reference_vae", models.vae.float().decode(x0 / fixtures.SCALING_FACTOR, return_dict=False)[0]),
            ("reference_taesd", taesd.float().decode(x0, return_dict=False)[0]),
        ):
            pixels = (image / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy().astype(np.float32)
            pixels.tofile(out / f"{name}.f32")
            written[name] = {"std": round(float(pixels.std()), 4), "finite": bool(np.isfinite(pixels).all())}
    return written


def native_baseline(models: fixtures.TinyModels, taesd: Any, runs: int) -> dict[str, Any]:
    """diffusers' modules in PyTorch fp16 eager (SDPA attention), the engine's one-step math, 512x512."""
    import torch

    text, unet = models.text_encoder.half(), models.unet.half()
    vae, tiny = models.vae.half(), taesd.half()
    ids = torch.tensor([fixtures.frame_ids([320, 1125, 539, 320, 2368])[0]], device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(0)
    noise = torch.randn(1, 4, LATENT, LATENT, generator=generator, device="cuda", dtype=torch.float16)
    timestep = torch.tensor([999], device="cuda")
    torch.backends.cudnn.benchmark = True

    def encode() -> Any:
        return text(ids).last_hidden_state

    embedding = encode()

    def denoise() -> Any:
        latents = noise * SIGMA
        eps = unet(latents / math.sqrt(SIGMA**2 + 1), timestep, embedding, return_dict=False)[0]
        return latents - SIGMA * eps

    x0 = denoise()

    def decode() -> Any:
        return vae.decode(x0 / fixtures.SCALING_FACTOR, return_dict=False)[0]

    def decode_tiny() -> Any:
        return tiny.decode(x0, return_dict=False)[0]

    def whole() -> Any:
        emb = text(ids).last_hidden_state
        latents = noise * SIGMA
        eps = unet(latents / math.sqrt(SIGMA**2 + 1), timestep, emb, return_dict=False)[0]
        image = vae.decode((latents - SIGMA * eps) / fixtures.SCALING_FACTOR, return_dict=False)[0]
        return (image / 2 + 0.5).clamp(0, 1).float().cpu()

    with torch.inference_mode():
        result = {
            "text_encoder_ms": time_cuda(encode, runs),
            "unet_ms": time_cuda(denoise, runs),
            "vae_decoder_ms": time_cuda(decode, runs),
            "taesd_decoder_ms": time_cuda(decode_tiny, runs),
            "total_ms": time_cuda(whole, runs),
        }
        image = whole()
        torch.cuda.reset_peak_memory_stats()
        whole()
        peak = torch.cuda.max_memory_allocated()
    result.update(
        image_finite=bool(torch.isfinite(image).all()),
        image_std=round(float(image.std()), 4),
        peak_allocated_mib=round(peak / 2**20),
        runs=runs,
        how="PyTorch fp16 eager, diffusers modules (SDPA attention), cudnn.benchmark; median ms, GPU drained per call; "
        "total = tokens on GPU -> text -> unet -> vae -> pixels on CPU",
        torch=torch.__version__,
        cuda=torch.version.cuda,
        gpu=torch.cuda.get_device_name(),
    )
    return result


# ----------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="where the model directories go (not the repo)")
    parser.add_argument("--json", type=Path, help="write the build report and native baseline here")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="the fixtures' toy models (a CPU dry run)")
    parser.add_argument("--skip-native", action="store_true")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--extra", action="store_true", help="also the exploratory mha/ and taesd-gate/ graphs")
    args = parser.parse_args(argv)

    import diffusers
    import torch

    started = time.perf_counter()
    device, out = args.device, args.out
    if args.tiny:
        models, latent, hidden = fixtures.build_models(), fixtures.LATENT_SIZE, fixtures.TEXT_HIDDEN
    else:
        models, latent, hidden = build_full_models(device), LATENT, FULL_TEXT["hidden"]
    taesd = build_taesd(device)
    report: dict[str, Any] = {
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "params_m": {
            "text_encoder": round(count_params(models.text_encoder) / 1e6, 1),
            "unet": round(count_params(models.unet) / 1e6, 1),
            "vae_decoder": round(
                count_params(models.vae.decoder) / 1e6 + count_params(models.vae.post_quant_conv) / 1e6, 1
            ),
            "taesd_decoder": round(count_params(taesd.decoder) / 1e6, 2),
        },
        "build_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report), flush=True)
    graphs = ("text_encoder", "unet", "vae_decoder")
    report["export_s"] = {"plain": export_graphs(models, out / "plain", graphs, device, hidden, latent)}
    names = ["plain", "taesd"]
    if args.extra:
        # The fused variant swaps only the attention processors; the text encoder (transformers' CLIP) is shared.
        processor = mha_processor_class()()
        models.unet.set_attn_processor(processor)
        models.vae.set_attn_processor(processor)
        report["export_s"]["mha"] = export_graphs(models, out / "mha", ("unet", "vae_decoder"), device, hidden, latent)
        shutil.copy(out / "plain" / "text_encoder" / "model.onnx", _mkdir(out / "mha" / "text_encoder") / "model.onnx")
        (out / "mha" / "tokenizer.json").write_text(tokenizer_json(), encoding="utf-8")
        export_taesd(taesd, out / "taesd-gate", device, latent, gate_relu=True)
        names += ["mha", "taesd-gate"]
    # taesd/ keeps ReLU (the engine disables ConvActivationFusion for it on webgpu-f16).
    export_taesd(taesd, out / "taesd", device, latent, gate_relu=False)
    (out / "plain" / "tokenizer.json").write_text(tokenizer_json(), encoding="utf-8")
    report["onnx_mb"] = {name: file_mb(out / name) for name in names}
    print(json.dumps(report), flush=True)
    from diffusers.models.attention_processor import AttnProcessor2_0

    models.unet.set_attn_processor(AttnProcessor2_0())
    models.vae.set_attn_processor(AttnProcessor2_0())
    report["reference"] = reference_images(models, taesd, out, latent)
    if not args.skip_native:
        report["native"] = native_baseline(models, taesd, args.runs)
    report["total_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=1)
    print(text, flush=True)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
