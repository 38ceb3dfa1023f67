"""Tiny SD-Turbo fixture models, their ONNX exports, and diffusers' outputs for them (the oracle).

Dev-only: needs torch, diffusers, transformers and onnx from the fixtures venv (docs/fixtures.md). They are
imported inside functions so that importing this module costs nothing elsewhere.

    PYTHONPATH=src .venv-fixtures/bin/python -m turbodraft.models.fixtures --out fixtures

The models have SD-Turbo's real architecture (OpenCLIP-style CLIP text tower with the real 49408-token
vocabulary, a cross-attention UNet with linear projections, an x8 AutoencoderKL) at toy width with seeded
random weights. Default random init leaves the image nearly blind to the timestep and the prompt, so a
pipeline bug would still pass a PSNR test; `sharpen_unet` scales the UNet output, time-embedding and
cross-attention weights until each deliberate mistake costs far more than the test threshold, and
`measure_sensitivity` proves it into sensitivity.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from turbodraft.pipeline.noise import randn

F32 = npt.NDArray[np.float32]

TEXT_HIDDEN = 16
TEXT_LAYERS = 2
TEXT_HEADS = 2
VOCAB_SIZE = 49408
MAX_LENGTH = 77
BOS_ID, EOS_ID, PAD_ID = 49406, 49407, 0
BOS_TOKEN, EOS_TOKEN, PAD_TOKEN = "<|startoftext|>", "<|endoftext|>", "!"
LATENT_SIZE = 8
IMAGE_SIZE = 64
SCALING_FACTOR = 0.18215
MODEL_SEED = 20240601
OPEN_CLIP_VERSION = "3.3.0"
BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"

#: stabilityai/sd-turbo's scheduler_config.json, the parts EulerDiscreteScheduler reads.
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "trailing",
    "steps_offset": 1,
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
}

#: Weight gains applied after the default init; see the module docstring and docs/fixtures.md.
TIME_EMBEDDING_GAIN = 2.0
RESNET_TIME_GAIN = 16.0
CROSS_QK_GAIN = 4.0
CROSS_VO_GAIN = 2.0
UNET_OUT_GAIN = 5.0
VAE_OUT_GAIN = 1.25

#: Prompts whose ids transformers' CLIPTokenizer and our tokenizer.json must agree on.
HARD_PROMPTS: tuple[str, ...] = (
    "",
    "a photo of a cat",
    "A Photo OF a CAT",
    "  leading,   trailing \t and\n\nmixed   whitespace  ",
    "café naïve résumé façade",
    "Cafe\u0301 (a combining accent, NFC-normalised)",
    "a 🐱 riding a 🚀 over 🌈🌈🌈",
    "東京タワー at night, 夜景",
    "Привет мир, ελληνικά, عربى, हिन्दी",
    "!!!???...,,,;;;:::---___***",
    "a cat! wow!!! amazing!x !a",
    "don't you'll we've it's they're I'm he'd",
    "numbers 12345 and 3.14159 and 1,000,000",
    "<|startoftext|> literal special tokens <|endoftext|>",
    "tabs\tand\u00a0non-breaking\u2003spaces",
    "zero\u200bwidth and soft\u00adhyphen",
    "an oil painting of " + "a very detailed castle on a hill with towers, " * 8,
    "x" * 300,
    " ".join(str(i) for i in range(100)),
)

#: Oracle prompts: the empty prompt (SD-Turbo's unconditional input) and a few ordinary ones.
ORACLE_PROMPTS: tuple[str, ...] = ("", "a photo of a cat", "an astronaut riding a horse, oil painting")
ORACLE_SEEDS: tuple[int, ...] = (0, 42, 4294967295)


# ----------------------------------------------------------------------------------------------- tokenizer


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-level alphabet: printable bytes map to themselves, the rest to code points >= 256."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes, strict=True)}


def read_bpe_merges(bpe_path: Path) -> list[tuple[str, str]]:
    """The 48894 merges CLIP uses: open_clip's SimpleTokenizer slice of bpe_simple_vocab_16e6.txt.gz."""
    lines = gzip.decompress(bpe_path.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(line.split()) for line in merges]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"{bpe_path} is not a CLIP BPE merges file")
    return [(pair[0], pair[1]) for pair in pairs]


def clip_vocab(merges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Byte symbols, the same with </w>, one token per merge, then BOS and EOS: 49408 ids as in CLIP."""
    symbols = list(bytes_to_unicode().values())
    tokens = [
        *symbols,
        *(s + "</w>" for s in symbols),
        *("".join(pair) for pair in merges),
        BOS_TOKEN,
        EOS_TOKEN,
    ]
    if len(tokens) != VOCAB_SIZE:
        raise ValueError(f"CLIP vocabulary has {len(tokens)} tokens, expected {VOCAB_SIZE}")
    return {token: index for index, token in enumerate(tokens)}


def build_tokenizer_json(vocab: dict[str, int], merges: Sequence[tuple[str, str]]) -> str:
    """tokenizer.json as transformers' CLIP tokenizer builds it; padding/truncation are left to our code."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE

    tokenizer = Tokenizer(
        BPE(
            vocab=vocab,
            merges=list(merges),
            dropout=None,
            continuing_subword_prefix="",
            end_of_word_suffix="</w>",
            fuse_unk=False,
            unk_token=EOS_TOKEN,
        )
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(
                    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
                ),
                behavior="removed",
                invert=True,
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    # SD-Turbo's tokenizer config names '!' as its pad token, which makes transformers treat every '!' in a
    # prompt as that special token (id 0) instead of merging runs like '!!!'; we match transformers.
    tokenizer.add_special_tokens(
        [AddedToken(token, normalized=False, special=True) for token in (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN)]
    )
    tokenizer.post_processor = processors.RobertaProcessing(
        (EOS_TOKEN, EOS_ID), (BOS_TOKEN, BOS_ID), trim_offsets=False, add_prefix_space=False
    )
    text: str = tokenizer.to_str()
    return text


def frame_ids(content: Sequence[int]) -> tuple[list[int], bool]:
    """[BOS] + the first 75 content ids + [EOS], padded with PAD_ID to 77 (SD-Turbo's prompt framing)."""
    room = MAX_LENGTH - 2
    ids = [BOS_ID, *content[:room], EOS_ID]
    return ids + [PAD_ID] * (MAX_LENGTH - len(ids)), len(content) > room


def extract_bpe(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        target = dest / Path(BPE_MEMBER).name
        target.write_bytes(archive.read(BPE_MEMBER))
    return target


def download_bpe(dest: Path) -> Path:
    """CLIP's BPE file from the open_clip_torch wheel on PyPI (the wheel only; nothing is installed)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--dest",
            str(dest),
            f"open_clip_torch=={OPEN_CLIP_VERSION}",
        ],
        check=True,
    )
    wheel = next(dest.glob("open_clip_torch-*.whl"))
    return extract_bpe(wheel, dest)


def transformers_clip_tokenizer(vocab: dict[str, int], merges: Sequence[tuple[str, str]]) -> Any:
    """The reference: transformers' CLIPTokenizer as stabilityai/sd-turbo configures it (pad '!', 77)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer(
        vocab=dict(vocab), merges=list(merges), pad_token=PAD_TOKEN, model_max_length=MAX_LENGTH
    )


def tokenizer_cases(tokenizer_json: str, reference: Any) -> list[dict[str, Any]]:
    """Our tokenizer.json + framing against transformers on HARD_PROMPTS; raises on the first disagreement."""
    from tokenizers import Tokenizer

    ours = Tokenizer.from_str(tokenizer_json)
    cases: list[dict[str, Any]] = []
    for prompt in HARD_PROMPTS:
        content = ours.encode(prompt, add_special_tokens=False).ids
        ids, truncated = frame_ids(content)
        expected = reference(prompt, padding="max_length", max_length=MAX_LENGTH, truncation=True)[
            "input_ids"
        ]
        with_specials = ours.encode(prompt).ids
        if list(expected) != ids or with_specials != [BOS_ID, *content, EOS_ID]:
            raise AssertionError(f"tokenizer mismatch for {prompt!r}:\n ours {ids}\n transformers {expected}")
        cases.append({"prompt": prompt, "ids": ids, "truncated": truncated, "content_tokens": len(content)})
    return cases


# ----------------------------------------------------------------------------------------------- models


@dataclass
class TinyModels:
    text_encoder: Any
    unet: Any
    vae: Any


def build_text_encoder() -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(MODEL_SEED)
    config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=4 * TEXT_HIDDEN,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=TEXT_HEADS,
        max_position_embeddings=MAX_LENGTH,
        hidden_act="gelu",
        projection_dim=TEXT_HIDDEN,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=1,
    )
    config._attn_implementation = "eager"  # the legacy ONNX tracer handles eager attention best
    return CLIPTextModel(config).eval()


def build_unet() -> Any:
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(MODEL_SEED + 1)
    unet = UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        attention_head_dim=(2, 4),
        cross_attention_dim=TEXT_HIDDEN,
        use_linear_projection=True,
        norm_num_groups=8,
        flip_sin_to_cos=True,
        freq_shift=0,
        act_fn="silu",
    )
    sharpen_unet(unet)
    return unet.eval()


def sharpen_unet(unet: Any) -> None:
    """Scale the weights that carry the timestep and the prompt so mistakes in either show in the image."""
    import torch

    with torch.no_grad():
        # A random UNet predicts eps far below unit variance, so x0 = latents - sigma * eps would be the noise
        # itself and anything the UNet gets wrong would hardly reach the image.
        unet.conv_out.weight.mul_(UNET_OUT_GAIN)
        unet.conv_out.bias.mul_(UNET_OUT_GAIN)
        unet.time_embedding.linear_1.weight.mul_(TIME_EMBEDDING_GAIN)
        unet.time_embedding.linear_2.weight.mul_(TIME_EMBEDDING_GAIN)
        for name, module in unet.named_modules():
            if name.endswith("time_emb_proj"):
                module.weight.mul_(RESNET_TIME_GAIN)
            if name.endswith("attn2"):
                module.to_q.weight.mul_(CROSS_QK_GAIN)
                module.to_k.weight.mul_(CROSS_QK_GAIN)
                module.to_v.weight.mul_(CROSS_VO_GAIN)
                module.to_out[0].weight.mul_(CROSS_VO_GAIN)


def build_vae() -> Any:
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(MODEL_SEED + 2)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=IMAGE_SIZE,
        scaling_factor=SCALING_FACTOR,
    )
    with torch.no_grad():
        # More contrast than the default init gives, so pixel errors are not hidden in a grey image.
        vae.decoder.conv_out.weight.mul_(VAE_OUT_GAIN)
    return vae.eval()


def build_models() -> TinyModels:
    return TinyModels(text_encoder=build_text_encoder(), unet=build_unet(), vae=build_vae())


# ----------------------------------------------------------------------------------------------- scheduler


def make_scheduler() -> Any:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(**SCHEDULER_CONFIG)


def scheduler_reference() -> dict[str, Any]:
    """diffusers' own numbers, for the twins' scheduler tests."""
    scheduler = make_scheduler()
    steps: dict[str, Any] = {}
    for count in (1, 2, 3, 4):
        scheduler.set_timesteps(count)
        steps[str(count)] = {
            "timesteps": [float(t) for t in scheduler.timesteps],
            "sigmas": [float(s) for s in scheduler.sigmas],
            "init_noise_sigma": float(scheduler.init_noise_sigma),
        }
    return {
        "config": SCHEDULER_CONFIG,
        "betas_first": float(scheduler.betas[0]),
        "betas_last": float(scheduler.betas[-1]),
        "alphas_cumprod_999": float(scheduler.alphas_cumprod[999]),
        "alphas_cumprod_0": float(scheduler.alphas_cumprod[0]),
        "sigma_999": float(((1 - scheduler.alphas_cumprod[999]) / scheduler.alphas_cumprod[999]) ** 0.5),
        "steps": steps,
        "note": "float32 values as diffusers holds them, widened to float64 for JSON",
    }


# ----------------------------------------------------------------------------------------------- sensitivity


@dataclass(frozen=True)
class Mistake:
    name: str
    timestep: int = 999
    pad_id: int = PAD_ID
    scale_unet_input: bool = True
    unscale_vae_input: bool = True


CORRECT = Mistake("correct")
MISTAKES = (
    Mistake("timestep_1000", timestep=1000),
    Mistake("pad_id_49407", pad_id=EOS_ID),
    Mistake("no_unet_input_scaling", scale_unet_input=False),
    Mistake("no_vae_unscaling", unscale_vae_input=False),
)


def one_step_image(models: TinyModels, content: Sequence[int], seed: int, how: Mistake) -> F32:
    """SD-Turbo's one-step pipeline written out in torch, with one switch per deliberate mistake."""
    import torch

    ids, _ = frame_ids(content)
    ids = [how.pad_id if i >= len(content) + 2 else token for i, token in enumerate(ids)]
    scheduler = make_scheduler()
    scheduler.set_timesteps(1)
    sigma = float(scheduler.sigmas[0])
    with torch.no_grad():
        embeddings = models.text_encoder(torch.tensor([ids])).last_hidden_state
        latents = torch.from_numpy(randn(seed, (1, 4, LATENT_SIZE, LATENT_SIZE))) * sigma
        unet_input = latents / math.sqrt(sigma**2 + 1) if how.scale_unet_input else latents
        eps = models.unet(unet_input, torch.tensor([how.timestep]), embeddings).sample
        x0 = latents - sigma * eps
        vae_input = x0 / SCALING_FACTOR if how.unscale_vae_input else x0
        decoded = models.vae.decode(vae_input).sample
    pixels: F32 = (decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy().astype(np.float32)
    return pixels


def psnr(a: F32, b: F32) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def measure_sensitivity(models: TinyModels, encode: Callable[[str], list[int]]) -> dict[str, Any]:
    """PSNR of each deliberate mistake against the correct one-step image, over oracle prompts and seeds."""
    per_case: list[dict[str, Any]] = []
    stats: list[dict[str, float]] = []
    for prompt in ORACLE_PROMPTS:
        content = encode(prompt)
        for seed in ORACLE_SEEDS:
            correct = one_step_image(models, content, seed, CORRECT)
            row: dict[str, Any] = {"prompt": prompt, "seed": seed}
            for mistake in MISTAKES:
                row[mistake.name] = round(psnr(correct, one_step_image(models, content, seed, mistake)), 2)
            per_case.append(row)
            stats.append(
                {
                    "std": float(correct.std()),
                    "clipped": float(np.mean((correct <= 0.0) | (correct >= 1.0))),
                    "mean": float(correct.mean()),
                }
            )
    worst = {m.name: max(float(row[m.name]) for row in per_case) for m in MISTAKES}
    return {
        "metric": "PSNR in dB of the mistaken one-step 64x64 image against the correct one, pixels in [0, 1]",
        "worst_case_db": worst,
        "cases": per_case,
        "image_std_min": min(s["std"] for s in stats),
        "image_clipped_fraction_max": max(s["clipped"] for s in stats),
        "image_mean_range": [min(s["mean"] for s in stats), max(s["mean"] for s in stats)],
        "gains": {
            "time_embedding": TIME_EMBEDDING_GAIN,
            "resnet_time_emb_proj": RESNET_TIME_GAIN,
            "cross_attention_qk": CROSS_QK_GAIN,
            "cross_attention_v_out": CROSS_VO_GAIN,
        },
    }


# ----------------------------------------------------------------------------------------------- ONNX export

GRAPHS = ("text_encoder", "unet", "vae_decoder", "vae_encoder")


def _wrappers(models: TinyModels, half: bool) -> dict[str, tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    """Per graph: (module with the web layout's I/O, example inputs, export keyword arguments)."""
    import copy

    import torch

    dtype = torch.float16 if half else torch.float32

    def frozen(model: Any) -> Any:
        return copy.deepcopy(model).to(dtype).requires_grad_(False).eval()

    class Wrapper(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = frozen(model)

    class TextEncoder(Wrapper):
        def forward(self, input_ids: Any) -> Any:
            # The web feeds int32 ids; the embedding lookup wants int64.
            return self.model(input_ids.to(torch.int64)).last_hidden_state.float()

    class Unet(Wrapper):
        def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any) -> Any:
            out = self.model(sample.to(dtype), timestep, encoder_hidden_states.to(dtype), return_dict=False)[
                0
            ]
            return out.float()

    class VaeDecoder(Wrapper):
        def forward(self, latent_sample: Any) -> Any:
            return self.model.decode(latent_sample.to(dtype), return_dict=False)[0].float()

    class VaeEncoder(Wrapper):
        def forward(self, sample: Any) -> Any:
            # The posterior mean: the web has no sampling generator, and diffusers' mode() is the same tensor.
            return self.model.encode(sample.to(dtype)).latent_dist.mean.float()

    latent = torch.zeros(1, 4, LATENT_SIZE, LATENT_SIZE)
    spatial = {0: "batch", 2: "height", 3: "width"}
    pixels = {0: "batch", 2: "image_height", 3: "image_width"}
    return {
        "text_encoder": (
            TextEncoder(models.text_encoder),
            (torch.zeros(1, MAX_LENGTH, dtype=torch.int32),),
            {"input_names": ["input_ids"], "output_names": ["last_hidden_state"]},
        ),
        "unet": (
            Unet(models.unet),
            (latent, torch.tensor([999], dtype=torch.int64), torch.zeros(1, MAX_LENGTH, TEXT_HIDDEN)),
            {
                "input_names": ["sample", "timestep", "encoder_hidden_states"],
                "output_names": ["out_sample"],
                "dynamic_axes": {
                    "sample": spatial,
                    "encoder_hidden_states": {0: "batch"},
                    "out_sample": spatial,
                },
            },
        ),
        "vae_decoder": (
            VaeDecoder(models.vae),
            (latent,),
            {
                "input_names": ["latent_sample"],
                "output_names": ["sample"],
                "dynamic_axes": {"latent_sample": spatial, "sample": pixels},
            },
        ),
        "vae_encoder": (
            VaeEncoder(models.vae),
            (torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE),),
            {
                "input_names": ["sample"],
                "output_names": ["latent_sample"],
                "dynamic_axes": {"sample": pixels, "latent_sample": spatial},
            },
        ),
    }


#: Every graph input/output dim: an int, or a free dimension name for freeDimensionOverrides. Pixel sizes are
#: 8 * height/width but get names of their own, since a dim name cannot carry a factor.
IO_SHAPES: dict[str, dict[str, list[int | str]]] = {
    "text_encoder": {"input_ids": [1, MAX_LENGTH], "last_hidden_state": [1, MAX_LENGTH, TEXT_HIDDEN]},
    "unet": {
        "sample": ["batch", 4, "height", "width"],
        "timestep": [1],
        "encoder_hidden_states": ["batch", MAX_LENGTH, TEXT_HIDDEN],
        "out_sample": ["batch", 4, "height", "width"],
    },
    "vae_decoder": {
        "latent_sample": ["batch", 4, "height", "width"],
        "sample": ["batch", 3, "image_height", "image_width"],
    },
    "vae_encoder": {
        "sample": ["batch", 3, "image_height", "image_width"],
        "latent_sample": ["batch", 4, "height", "width"],
    },
}


def _pin_io_shapes(model: Any, shapes: dict[str, list[int | str]]) -> None:
    """Write the declared I/O shapes (the tracer leaves names like 'Castlatent_sample_dim_1')."""
    values = [*model.graph.input, *model.graph.output]
    if sorted(v.name for v in values) != sorted(shapes):
        raise AssertionError(f"graph I/O {[v.name for v in values]} differs from {list(shapes)}")
    for value in values:
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for size in shapes[value.name]:
            dim = dims.add()
            if isinstance(size, int):
                dim.dim_value = size
            else:
                dim.dim_param = size


def export_variant(models: TinyModels, out_dir: Path, half: bool, tokenizer_json: str) -> None:
    """One model directory in the web layout: <graph>/model.onnx for each graph, plus tokenizer.json."""
    import onnx
    import torch

    for graph, (module, inputs, kwargs) in _wrappers(models, half).items():
        path = out_dir / graph / "model.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            torch.onnx.export(
                module.eval(),
                inputs,
                str(path),
                dynamo=False,
                opset_version=17,
                do_constant_folding=True,
                **kwargs,
            )
        model = onnx.load(str(path))
        _pin_io_shapes(model, IO_SHAPES[graph])
        onnx.checker.check_model(model)
        model.producer_name = "turbodraft.models.fixtures"
        onnx.save(model, str(path))
    (out_dir / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")


def _check_inputs(models: TinyModels, ids: list[int], batch: int, latent: int) -> dict[str, dict[str, F32]]:
    import torch

    sigma = 14.614641
    generator = torch.Generator().manual_seed(7)
    latents = torch.randn(batch, 4, latent, latent, generator=generator)
    pixels = torch.rand(batch, 3, 8 * latent, 8 * latent, generator=generator) * 2 - 1
    with torch.no_grad():
        embeddings = models.text_encoder(torch.tensor([ids])).last_hidden_state
    return {
        "text_encoder": {"input_ids": np.asarray([ids], dtype=np.int32)},
        "unet": {
            "sample": (latents * sigma / math.sqrt(sigma**2 + 1)).numpy(),
            "timestep": np.asarray([999], dtype=np.int64),
            "encoder_hidden_states": embeddings.repeat(batch, 1, 1).numpy(),
        },
        "vae_decoder": {"latent_sample": (latents * 3).numpy()},
        "vae_encoder": {"sample": pixels.numpy()},
    }


def check_variant(models: TinyModels, out_dir: Path, ids: list[int]) -> dict[str, Any]:
    """Max abs error of each exported graph (onnxruntime CPU) against the fp32 torch model, at two sizes."""
    import onnxruntime as ort
    import torch

    report: dict[str, Any] = {}
    for batch, latent in ((1, LATENT_SIZE), (2, 2 * LATENT_SIZE)):
        feeds = _check_inputs(models, ids, batch, latent)
        for graph, (module, _, _) in _wrappers(models, half=False).items():
            if graph == "text_encoder" and batch != 1:
                continue
            session = ort.InferenceSession(
                str(out_dir / graph / "model.onnx"), providers=["CPUExecutionProvider"]
            )
            got = session.run(None, feeds[graph])[0]
            with torch.no_grad():
                want = module(*(torch.from_numpy(v) for v in feeds[graph].values())).numpy()
            if got.shape != want.shape or got.dtype != np.float32:
                raise AssertionError(
                    f"{out_dir / graph}: got {got.dtype}{got.shape}, want float32{want.shape}"
                )
            report[f"{graph}@{batch}x{latent}"] = {
                "max_abs_error": float(np.max(np.abs(got - want))),
                "reference_max_abs": float(np.max(np.abs(want))),
            }
    return report


# ----------------------------------------------------------------------------------------------- oracle


@dataclass(frozen=True)
class OracleCase:
    mode: str
    prompt: str
    seed: int
    steps: int
    strength: float | None = None

    @property
    def id(self) -> str:
        prompt_index = ORACLE_PROMPTS.index(self.prompt)
        return f"{self.mode}-{self.steps}step-p{prompt_index}-seed{self.seed}"


def oracle_cases() -> list[OracleCase]:
    cases = [OracleCase("txt2img", p, s, 1) for p in ORACLE_PROMPTS for s in ORACLE_SEEDS]
    cases += [OracleCase("txt2img", p, 42, steps) for steps in (2, 4) for p in ORACLE_PROMPTS[:2]]
    cases += [
        OracleCase("img2img", p, s, 2, 0.5) for p, s in ((ORACLE_PROMPTS[1], 0), (ORACLE_PROMPTS[2], 42))
    ]
    cases += [
        OracleCase("img2img", ORACLE_PROMPTS[0], 7, 2, 0.5),
        OracleCase("img2img", ORACLE_PROMPTS[1], 7, 4, 0.5),
    ]
    return cases


def init_image() -> npt.NDArray[np.uint8]:
    """A 64x64 RGB test card: gradients, a disc and a bar, so the VAE encoder sees structure."""
    y, x = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64) / (IMAGE_SIZE - 1)
    disc = ((x - 0.35) ** 2 + (y - 0.4) ** 2) < 0.05
    bar = (np.abs(x - 0.75) < 0.08) & (y > 0.2)
    red = 0.2 + 0.6 * x
    green = np.where(disc, 0.9, 0.3 + 0.4 * y)
    blue = np.where(bar, 0.85, 0.5 - 0.3 * x * y)
    rgb = np.stack([red, green, blue], axis=-1)
    image: npt.NDArray[np.uint8] = np.round(rgb * 255).astype(np.uint8)
    return image


def _save_png(path: Path, pixels: npt.NDArray[np.uint8]) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path, format="PNG")


def make_oracle(models: TinyModels, reference_tokenizer: Any, oracle_dir: Path) -> dict[str, Any]:
    """Run diffusers' own pipelines on the tiny models; every random tensor comes from our randn."""
    import diffusers
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as img2img_module
    from PIL import Image

    components = {
        "vae": models.vae,
        "text_encoder": models.text_encoder,
        "tokenizer": reference_tokenizer,
        "unet": models.unet,
        "scheduler": make_scheduler(),
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }
    txt2img = StableDiffusionPipeline(**components)
    img2img = StableDiffusionImg2ImgPipeline(**components)
    for pipe in (txt2img, img2img):
        pipe.set_progress_bar_config(disable=True)

    oracle_dir.mkdir(parents=True, exist_ok=True)
    _save_png(oracle_dir / "init.png", init_image())
    init_pil = Image.open(oracle_dir / "init.png").convert("RGB")

    unet_timesteps: list[float] = []
    hook = models.unet.register_forward_pre_hook(
        lambda _module, args: unet_timesteps.append(float(torch.as_tensor(args[1]).flatten()[0]))
    )
    original_randn = img2img_module.randn_tensor
    original_retrieve = img2img_module.retrieve_latents
    records: list[dict[str, Any]] = []
    try:
        for case in oracle_cases():
            noise = randn(case.seed, (1, 4, LATENT_SIZE, LATENT_SIZE))
            np.save(oracle_dir / f"{case.id}.latents.npy", noise)
            unet_timesteps.clear()
            record: dict[str, Any] = {
                "id": case.id,
                "mode": case.mode,
                "prompt": case.prompt,
                "seed": case.seed,
                "steps": case.steps,
                "strength": case.strength,
                "width": IMAGE_SIZE,
                "height": IMAGE_SIZE,
                "init_image": None,
                "latents": f"{case.id}.latents.npy",
                "noise": None,
                "init_latents": None,
            }
            with torch.no_grad():
                if case.mode == "txt2img":
                    output = txt2img(
                        case.prompt,
                        height=IMAGE_SIZE,
                        width=IMAGE_SIZE,
                        num_inference_steps=case.steps,
                        guidance_scale=0.0,
                        latents=torch.from_numpy(noise),
                        output_type="np",
                    )
                    scheduler = txt2img.scheduler
                    record["initial_sigma"] = float(scheduler.init_noise_sigma)
                else:
                    tensor = torch.from_numpy(noise)
                    img2img_module.randn_tensor = lambda shape, _t=tensor, **_: _t.reshape(shape).clone()
                    # Deterministic encoder: the posterior mean (what vae_encoder/model.onnx outputs).
                    img2img_module.retrieve_latents = lambda output, generator=None, sample_mode="sample": (
                        original_retrieve(output, generator, sample_mode="argmax")
                    )
                    output = img2img(
                        case.prompt,
                        image=init_pil,
                        strength=case.strength,
                        num_inference_steps=case.steps,
                        guidance_scale=0.0,
                        output_type="np",
                    )
                    scheduler = img2img.scheduler
                    pixels = torch.from_numpy(np.asarray(init_pil, dtype=np.float32) / 255.0)
                    vae_input = (pixels * 2 - 1).permute(2, 0, 1)[None]
                    init_latents = models.vae.encode(vae_input).latent_dist.mean * SCALING_FACTOR
                    np.save(oracle_dir / f"{case.id}.init_latents.npy", init_latents.numpy())
                    record.update(
                        init_image="init.png",
                        noise=f"{case.id}.latents.npy",
                        init_latents=f"{case.id}.init_latents.npy",
                        initial_sigma=float(scheduler.sigmas[scheduler.begin_index]),
                    )
            image = np.asarray(output.images, dtype=np.float32)
            np.save(oracle_dir / f"{case.id}.image.npy", image)
            _save_png(oracle_dir / f"{case.id}.png", (image[0] * 255).round().astype(np.uint8))
            record.update(
                image=f"{case.id}.image.npy",
                png=f"{case.id}.png",
                input_ids=reference_tokenizer(
                    case.prompt, padding="max_length", max_length=MAX_LENGTH, truncation=True
                )["input_ids"],
                scheduler_timesteps=[float(t) for t in scheduler.timesteps],
                scheduler_sigmas=[float(s) for s in scheduler.sigmas],
                unet_timesteps=list(unet_timesteps),
                image_std=float(image.std()),
            )
            records.append(record)
    finally:
        hook.remove()
        img2img_module.randn_tensor = original_randn
        img2img_module.retrieve_latents = original_retrieve

    embed_prompt = ORACLE_PROMPTS[1]
    ids = reference_tokenizer(embed_prompt, padding="max_length", max_length=MAX_LENGTH, truncation=True)
    with torch.no_grad():
        embeddings = models.text_encoder(torch.tensor([ids["input_ids"]])).last_hidden_state.numpy()
    np.save(oracle_dir / "text_embeddings.npy", embeddings.astype(np.float32))
    return {
        "generated_by": "python -m turbodraft.models.fixtures (diffusers pipelines on the tiny torch models)",
        "versions": {"diffusers": diffusers.__version__, "torch": torch.__version__},
        "model": "tiny-sd-turbo (fp32 torch; the ONNX graphs in ../tiny-sd-turbo are exports of it)",
        "scaling_factor": SCALING_FACTOR,
        "image_layout": "float32 [1, 64, 64, 3] in [0, 1] (diffusers output_type='np'); "
        "png = round(image*255)",
        "latents_note": "latents = randn(seed, [1,4,8,8]) unscaled; txt2img multiplies by initial_sigma, "
        "img2img adds it as noise: init_latents + initial_sigma * noise",
        "text_embeddings": {
            "prompt": embed_prompt,
            "input_ids": ids["input_ids"],
            "file": "text_embeddings.npy",
        },
        "cases": records,
    }


def replay_with_onnx(model_dir: Path, oracle_dir: Path, oracle: dict[str, Any]) -> dict[str, float]:
    """PSNR of each oracle case recomputed from the exported graphs with plain numpy + onnxruntime.

    A smoke test of the fixture itself (graphs, layout, recorded schedule); the real twins live elsewhere.
    """
    import onnxruntime as ort

    def session(graph: str) -> Any:
        return ort.InferenceSession(str(model_dir / graph / "model.onnx"), providers=["CPUExecutionProvider"])

    text_encoder, unet, decoder = session("text_encoder"), session("unet"), session("vae_decoder")
    result: dict[str, float] = {}
    for case in oracle["cases"]:
        ids = np.asarray([case["input_ids"]], dtype=np.int32)
        embeddings = text_encoder.run(None, {"input_ids": ids})[0]
        noise = np.load(oracle_dir / case["latents"])
        sigmas = np.asarray(case["scheduler_sigmas"], dtype=np.float32)
        start = len(sigmas) - 1 - len(case["unet_timesteps"])
        if case["mode"] == "txt2img":
            latents = noise * np.float32(case["initial_sigma"])
        else:
            latents = np.load(oracle_dir / case["init_latents"]) + noise * np.float32(case["initial_sigma"])
        for index, timestep in enumerate(case["unet_timesteps"]):
            sigma, sigma_next = sigmas[start + index], sigmas[start + index + 1]
            model_input = latents / np.sqrt(sigma**2 + np.float32(1))
            feeds = {
                "sample": model_input.astype(np.float32),
                "timestep": np.asarray([round(timestep)], dtype=np.int64),
                "encoder_hidden_states": embeddings,
            }
            eps = unet.run(None, feeds)[0]
            latents = latents + eps * (sigma_next - sigma)
        decoded = decoder.run(
            None, {"latent_sample": (latents / np.float32(SCALING_FACTOR)).astype(np.float32)}
        )[0]
        pixels = np.clip(decoded / 2 + 0.5, 0, 1).transpose(0, 2, 3, 1).astype(np.float32)
        result[case["id"]] = round(psnr(pixels, np.load(oracle_dir / case["image"])), 2)
    return result


# ---------------------------------------------------------------------------------------------- noise vectors

NOISE_SEEDS = (0, 1, 42, 12345, 2**31, 2**32 - 1)


def fnv1a32(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def noise_vectors() -> dict[str, Any]:
    """Test vectors for randn in both languages: exact float32 values (JSON doubles hold them exactly)."""
    full_shape = (1, 4, 64, 64)
    vectors = []
    for seed in NOISE_SEEDS:
        full = randn(seed, full_shape)
        vectors.append(
            {
                "seed": seed,
                "first256": [float(v) for v in randn(seed, (256,))],
                "full_shape": list(full_shape),
                "full_fnv1a32": fnv1a32(full.astype("<f4").tobytes()),
                "full_first": float(full.flat[0]),
                "full_last": float(full.flat[-1]),
                "full_mean": float(full.astype(np.float64).mean()),
                "full_std": float(full.astype(np.float64).std()),
            }
        )
    odd = [
        {"seed": 7, "shape": [3], "values": [float(v) for v in randn(7, (3,)).flat]},
        {"seed": 7, "shape": [1, 3, 5], "values": [float(v) for v in randn(7, (1, 3, 5)).flat]},
    ]
    return {
        "spec": "docs/fixtures.md#noise",
        "checksum": "FNV-1a 32-bit over the little-endian float32 bytes of randn(seed, full_shape), in order",
        "vectors": vectors,
        "odd_shapes": odd,
    }


# ----------------------------------------------------------------------------------------------- main


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _encoder(tokenizer_json: str) -> Callable[[str], list[int]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    return lambda prompt: list(tokenizer.encode(prompt, add_special_tokens=False).ids)


def generate(out: Path, bpe_path: Path) -> dict[str, Any]:
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    merges = read_bpe_merges(bpe_path)
    vocab = clip_vocab(merges)
    tokenizer_json = build_tokenizer_json(vocab, merges)
    reference = transformers_clip_tokenizer(vocab, merges)
    _write_json(
        out / "tokenizer" / "cases.json",
        {
            "max_length": MAX_LENGTH,
            "bos": BOS_ID,
            "eos": EOS_ID,
            "pad": PAD_ID,
            "cases": tokenizer_cases(tokenizer_json, reference),
        },
    )
    _write_json(out / "noise" / "vectors.json", noise_vectors())

    models = build_models()
    check_ids = frame_ids(_encoder(tokenizer_json)(ORACLE_PROMPTS[1]))[0]
    exports: dict[str, Any] = {}
    for name, half in (("tiny-sd-turbo", False), ("tiny-sd-turbo-fp16", True)):
        export_variant(models, out / name, half, tokenizer_json)
        exports[name] = check_variant(models, out / name, check_ids)

    oracle_dir = out / "oracle"
    oracle = make_oracle(models, reference, oracle_dir)
    _write_json(oracle_dir / "cases.json", oracle)
    _write_json(oracle_dir / "scheduler.json", scheduler_reference())
    sensitivity = measure_sensitivity(models, _encoder(tokenizer_json))
    _write_json(oracle_dir / "sensitivity.json", sensitivity)
    replay = {name: replay_with_onnx(out / name, oracle_dir, oracle) for name in exports}
    report = {"onnx_vs_torch": exports, "onnx_replay_psnr_db": replay}
    _write_json(oracle_dir / "export_check.json", report)
    return {"sensitivity": sensitivity["worst_case_db"], **report}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("fixtures"), help="fixtures directory to (re)write")
    parser.add_argument(
        "--bpe",
        type=Path,
        default=None,
        help="bpe_simple_vocab_16e6.txt.gz; default: taken from the open_clip_torch wheel on PyPI",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        bpe = args.bpe if args.bpe is not None else download_bpe(Path(scratch))
        summary = generate(args.out, bpe)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
