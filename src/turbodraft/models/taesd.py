"""The tiny TAESD autoencoder (madebyollin/taesd, diffusers' AutoencoderTiny) behind the engine's VAE interface.

Drafts are previews: SD's VAE decoder is 75% of a one-step image's work, and TAESD decodes the same latents about
ten times faster on a GPU (docs/performance.md). The exported graph keeps the big decoder's interface, so both
twins run it unchanged: input `latent_sample` = x0 / 0.18215 (what the pipeline feeds SD's VAE), output `sample`
in [-1, 1]. Inside, the latents are scaled back to x0 and divided by AutoencoderTiny's own `scaling_factor`
(1.0 for madebyollin/taesd), exactly what diffusers' StableDiffusionPipeline does with `vae=AutoencoderTiny`.
The encoder likewise keeps vae_encoder's interface (input in [-1, 1], output the "mean" that the pipeline
multiplies by 0.18215), so Refine (img2img) runs on the TAESD draft model in both twins.

`turbodraft models pull` builds the real model's TAESD graphs without torch from a public ONNX export in
AutoencoderTiny's own latent scale (turbodraft.models.derive); `fixture` also writes a tiny stand-in for that
export (fixtures/hub/taesd-onnx), which the pull tests serve from a local Hub.

Dev-only (torch, diffusers, onnx: the fixtures venv); imported inside functions.

    # a real draft model directory: the sd-turbo-fp16 graphs plus TAESD's decoder (weights: madebyollin/taesd)
    PYTHONPATH=src .venv-fixtures/bin/python -m turbodraft.models.taesd export \\
        --weights taesd/ --base .turbodraft/models/sd-turbo-fp16 --out .turbodraft/models/sd-turbo-fp16-taesd
    # the tiny fixture (random TAESD at toy width) and its diffusers oracle
    PYTHONPATH=src .venv-fixtures/bin/python -m turbodraft.models.taesd fixture --fixtures fixtures
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from turbodraft.models import fixtures
from turbodraft.pipeline.noise import randn

#: SD's VAE scaling factor: what the pipeline divides x0 by before the decoder.
SD_SCALING_FACTOR = fixtures.SCALING_FACTOR
#: The files a TAESD draft model shares with the model it is derived from.
SHARED_FILES = ("text_encoder/model.onnx", "unet/model.onnx", "tokenizer.json")

TINY_FIXTURE = "tiny-sd-turbo-taesd"
TINY_ORACLE = "oracle-taesd"
TINY_SEED = fixtures.MODEL_SEED + 3
#: Default init gives a nearly grey image that hardly depends on its input (a wrong latent scale cost only
#: 28-40 dB); these gains on the first and last convolutions make decoder mistakes show in the pixels.
TINY_IN_GAIN = 4.0
TINY_OUT_GAIN = 4.0
#: The same for the encoder: a random one maps every image to nearly the same small latents.
TINY_ENCODER_IN_GAIN = 4.0
TINY_ENCODER_OUT_GAIN = 8.0
#: Where the stand-in for the public TAESD ONNX export (deinferno/taesd-onnx's layout) goes under fixtures/.
TINY_PUBLIC_EXPORT = "hub/taesd-onnx"
#: The oracle's cases: one-step drafts (what the tiny decoder is for) and a multi-step check.
TINY_CASES: tuple[tuple[int, int, int], ...] = (  # (prompt index, seed, steps)
    (0, 0, 1),
    (1, 42, 1),
    (2, 4294967295, 1),
    (1, 42, 2),
    (2, 7, 4),
)
#: img2img cases (prompt index, seed, steps, strength) from fixtures/oracle/init.png.
TINY_IMG2IMG_CASES: tuple[tuple[int, int, int, float], ...] = ((1, 0, 2, 0.5), (2, 7, 4, 0.5))


def decoder_module(taesd: Any, *, half: bool, sd_scaling_factor: float = SD_SCALING_FACTOR) -> Any:
    """AutoencoderTiny's decoder as a module with the vae_decoder interface (fp32 I/O, fp16 inside if `half`)."""
    import copy

    import torch

    dtype = torch.float16 if half else torch.float32
    # diffusers' pipelines decode `latents / vae.config.scaling_factor`; the graph's input is x0 / 0.18215.
    factor = sd_scaling_factor / float(taesd.config.scaling_factor)

    class TinyDecoder(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
        def __init__(self) -> None:
            super().__init__()
            self.model = copy.deepcopy(taesd).to(dtype).requires_grad_(False).eval()

        def forward(self, latent_sample: Any) -> Any:
            return self.model.decode((latent_sample * factor).to(dtype), return_dict=False)[0].float()

    return TinyDecoder().eval()


def encoder_module(taesd: Any, *, half: bool, sd_scaling_factor: float = SD_SCALING_FACTOR) -> Any:
    """AutoencoderTiny's encoder with the vae_encoder interface: input in [-1, 1] (AutoencoderTiny maps it to
    [0, 1] itself), output the latents divided by 0.18215, as the pipeline multiplies what SD's encoder gives."""
    import copy

    import torch

    dtype = torch.float16 if half else torch.float32
    factor = float(taesd.config.scaling_factor) / sd_scaling_factor

    class TinyEncoder(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
        def __init__(self) -> None:
            super().__init__()
            self.model = copy.deepcopy(taesd).to(dtype).requires_grad_(False).eval()

        def forward(self, sample: Any) -> Any:
            return (self.model.encode(sample.to(dtype), return_dict=False)[0].float()) * factor

    return TinyEncoder().eval()


def export_encoder(taesd: Any, path: Path, *, half: bool, image: int = 512, device: str = "cpu") -> None:
    """vae_encoder/model.onnx from AutoencoderTiny (legacy exporter, opset 17, free batch and sizes)."""
    import onnx
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    spatial = {0: "batch", 2: "height", 3: "width"}
    pixels = {0: "batch", 2: "image_height", 3: "image_width"}
    with torch.no_grad():
        torch.onnx.export(
            encoder_module(taesd, half=half).to(device),
            (torch.zeros(1, 3, image, image, device=device),),
            str(path),
            dynamo=False,
            opset_version=17,
            do_constant_folding=True,
            input_names=["sample"],
            output_names=["latent_sample"],
            dynamic_axes={"sample": pixels, "latent_sample": spatial},
        )
    model = onnx.load(str(path))
    fixtures._pin_io_shapes(model, fixtures.IO_SHAPES["vae_encoder"])
    onnx.checker.check_model(model)
    model.producer_name = "turbodraft.models.taesd"
    onnx.save(model, str(path))


def export_public_layout(taesd: Any, out: Path, *, latent: int = 8) -> None:
    """TAESD as public ONNX exports ship it (deinferno/taesd-onnx, made for optimum's ONNX pipelines): the
    decoder is AutoencoderTiny.decode and the encoder AutoencoderTiny.encode, in TAESD's own latent scale, with
    optimum's I/O names and dimension names. The stand-in the pull tests build the engine's graphs from."""
    import copy

    import torch

    model = copy.deepcopy(taesd).requires_grad_(False).eval()

    class Decode(torch.nn.Module):  # type: ignore[misc]
        def forward(self, latent_sample: Any) -> Any:
            return model.decode(latent_sample, return_dict=False)[0]

    class Encode(torch.nn.Module):  # type: ignore[misc]
        def forward(self, sample: Any) -> Any:
            return model.encode(sample, return_dict=False)[0]

    latent_axes = {0: "batch_size", 1: "num_channels_latent", 2: "height_latent", 3: "width_latent"}
    pixel_axes = {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"}
    latents, pixels = torch.zeros(1, 4, latent, latent), torch.zeros(1, 3, 8 * latent, 8 * latent)
    graphs = (
        ("vae_decoder", Decode(), latents, "latent_sample", "sample", latent_axes, pixel_axes),
        ("vae_encoder", Encode(), pixels, "sample", "latent_sample", pixel_axes, latent_axes),
    )
    for name, module, example, input_name, output_name, in_axes, out_axes in graphs:
        path = out / name / "model.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,
                opset_version=17,
                do_constant_folding=True,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: in_axes, output_name: out_axes},
            )


def export_decoder(taesd: Any, path: Path, *, half: bool, latent: int = 64, device: str = "cpu") -> None:
    """vae_decoder/model.onnx from AutoencoderTiny (legacy exporter, opset 17, free batch and sizes)."""
    import onnx
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    spatial = {0: "batch", 2: "height", 3: "width"}
    pixels = {0: "batch", 2: "image_height", 3: "image_width"}
    with torch.no_grad():
        torch.onnx.export(
            decoder_module(taesd, half=half).to(device),
            (torch.zeros(1, 4, latent, latent, device=device),),
            str(path),
            dynamo=False,
            opset_version=17,
            do_constant_folding=True,
            input_names=["latent_sample"],
            output_names=["sample"],
            dynamic_axes={"latent_sample": spatial, "sample": pixels},
        )
    model = onnx.load(str(path))
    fixtures._pin_io_shapes(model, fixtures.IO_SHAPES["vae_decoder"])
    onnx.checker.check_model(model)
    model.producer_name = "turbodraft.models.taesd"
    onnx.save(model, str(path))


def _share(src: Path, dest: Path) -> None:
    """A hard link where the file system allows it (the UNet is GBs), else a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def export_model(weights: Path, out: Path, base: Path | None, *, half: bool) -> dict[str, Any]:
    """A draft model directory: TAESD's decoder from `weights` (an AutoencoderTiny directory, e.g. a download
    of madebyollin/taesd), plus the text encoder, UNet and tokenizer of `base` when given."""
    from diffusers import AutoencoderTiny

    taesd = AutoencoderTiny.from_pretrained(str(weights)).eval()
    if base is not None:
        missing = [f for f in SHARED_FILES if not (base / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{base} lacks {', '.join(missing)}")
        for name in SHARED_FILES:
            _share(base / name, out / name)
    export_decoder(taesd, out / "vae_decoder" / "model.onnx", half=half)
    export_encoder(taesd, out / "vae_encoder" / "model.onnx", half=half)
    return {
        "out": str(out),
        "decoder_params_m": round(sum(p.numel() for p in taesd.decoder.parameters()) / 1e6, 2),
        "scaling_factor": float(taesd.config.scaling_factor),
        "shared_from": str(base) if base is not None else None,
    }


# ----------------------------------------------------------------------------------------------- fixture


def build_tiny_taesd() -> Any:
    """AutoencoderTiny at toy width, seeded; the real architecture's block structure and x8 upsampling."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(TINY_SEED)
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    )
    with torch.no_grad():
        convs = [m for m in taesd.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
        convs[0].weight.mul_(TINY_IN_GAIN)
        convs[-1].weight.mul_(TINY_OUT_GAIN)
        # After the decoder's gains, so the decoder (and its committed oracle) is what it was before.
        convs = [m for m in taesd.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
        convs[0].weight.mul_(TINY_ENCODER_IN_GAIN)
        convs[-1].weight.mul_(TINY_ENCODER_OUT_GAIN)
    return taesd.eval()


def _oracle_pipeline(models: fixtures.TinyModels, taesd: Any, *, img2img: bool = False) -> Any:
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

    pipeline_class = StableDiffusionImg2ImgPipeline if img2img else StableDiffusionPipeline
    pipe = pipeline_class(
        vae=taesd,
        text_encoder=models.text_encoder,
        tokenizer=None,
        unet=models.unet,
        scheduler=fixtures.make_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_tiny_oracle(models: fixtures.TinyModels, taesd: Any, oracle_dir: Path) -> dict[str, Any]:
    """diffusers' StableDiffusionPipeline with vae=AutoencoderTiny on the tiny models, from our seeds' latents.

    Token ids come from fixtures/oracle (recorded with transformers' CLIP tokenizer), fed as prompt embeddings.
    """
    import diffusers
    import torch

    base_oracle = json.loads((oracle_dir.parent / "oracle" / "cases.json").read_text(encoding="utf-8"))
    ids_of = {c["prompt"]: c["input_ids"] for c in base_oracle["cases"]}
    pipe = _oracle_pipeline(models, taesd)
    oracle_dir.mkdir(parents=True, exist_ok=True)
    size = fixtures.IMAGE_SIZE
    records: list[dict[str, Any]] = []
    for prompt_index, seed, steps in TINY_CASES:
        prompt = fixtures.ORACLE_PROMPTS[prompt_index]
        case_id = f"txt2img-{steps}step-p{prompt_index}-seed{seed}"
        noise = randn(seed, (1, 4, fixtures.LATENT_SIZE, fixtures.LATENT_SIZE))
        np.save(oracle_dir / f"{case_id}.latents.npy", noise)
        with torch.no_grad():
            embeds = models.text_encoder(torch.tensor([ids_of[prompt]])).last_hidden_state
            output = pipe(
                prompt_embeds=embeds,
                height=size,
                width=size,
                num_inference_steps=steps,
                guidance_scale=0.0,
                latents=torch.from_numpy(noise),
                output_type="np",
            )
        image = np.asarray(output.images, dtype=np.float32)
        np.save(oracle_dir / f"{case_id}.image.npy", image)
        records.append(
            {
                "id": case_id,
                "mode": "txt2img",
                "prompt": prompt,
                "seed": seed,
                "steps": steps,
                "strength": None,
                "width": size,
                "height": size,
                "init_image": None,
                "latents": f"{case_id}.latents.npy",
                "image": f"{case_id}.image.npy",
                "input_ids": ids_of[prompt],
                "image_std": float(image.std()),
            }
        )
    records += make_img2img_oracle(models, taesd, oracle_dir, ids_of)
    first_img2img = next(r for r in records if r["mode"] == "img2img")
    return {
        "generated_by": "python -m turbodraft.models.taesd fixture (StableDiffusionPipeline and "
        "StableDiffusionImg2ImgPipeline, vae=AutoencoderTiny)",
        "versions": {"diffusers": diffusers.__version__, "torch": torch.__version__},
        "model": f"{TINY_FIXTURE}: the tiny-sd-turbo text encoder and UNet, a random toy AutoencoderTiny",
        "image_layout": "float32 [1, 64, 64, 3] in [0, 1] (diffusers output_type='np')",
        "cases": records,
        "sensitivity": {
            **decoder_sensitivity(models, taesd, records[0], oracle_dir),
            **encoder_sensitivity(models, taesd, first_img2img, oracle_dir),
        },
    }


def _init_pixels(oracle_dir: Path) -> Any:
    from PIL import Image

    return Image.open(oracle_dir.parent / "oracle" / "init.png").convert("RGB")


def make_img2img_oracle(
    models: fixtures.TinyModels, taesd: Any, oracle_dir: Path, ids_of: dict[str, list[int]]
) -> list[dict[str, Any]]:
    """diffusers' StableDiffusionImg2ImgPipeline with vae=AutoencoderTiny from fixtures/oracle/init.png; the
    noise it adds is our randn(seed) (its randn_tensor patched), as in fixtures/oracle."""
    import torch
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as img2img_module

    pipe = _oracle_pipeline(models, taesd, img2img=True)
    init = _init_pixels(oracle_dir)
    original_randn = img2img_module.randn_tensor
    records: list[dict[str, Any]] = []
    try:
        for prompt_index, seed, steps, strength in TINY_IMG2IMG_CASES:
            prompt = fixtures.ORACLE_PROMPTS[prompt_index]
            case_id = f"img2img-{steps}step-p{prompt_index}-seed{seed}"
            noise = randn(seed, (1, 4, fixtures.LATENT_SIZE, fixtures.LATENT_SIZE))
            np.save(oracle_dir / f"{case_id}.latents.npy", noise)
            tensor = torch.from_numpy(noise)
            img2img_module.randn_tensor = lambda shape, _t=tensor, **_: _t.reshape(shape).clone()
            with torch.no_grad():
                embeds = models.text_encoder(torch.tensor([ids_of[prompt]])).last_hidden_state
                output = pipe(
                    prompt_embeds=embeds,
                    image=init,
                    strength=strength,
                    num_inference_steps=steps,
                    guidance_scale=0.0,
                    output_type="np",
                )
            image = np.asarray(output.images, dtype=np.float32)
            np.save(oracle_dir / f"{case_id}.image.npy", image)
            records.append(
                {
                    "id": case_id,
                    "mode": "img2img",
                    "prompt": prompt,
                    "seed": seed,
                    "steps": steps,
                    "strength": strength,
                    "width": fixtures.IMAGE_SIZE,
                    "height": fixtures.IMAGE_SIZE,
                    "init_image": "../oracle/init.png",
                    "latents": f"{case_id}.latents.npy",
                    "noise": f"{case_id}.latents.npy",
                    "image": f"{case_id}.image.npy",
                    "input_ids": ids_of[prompt],
                    "image_std": float(image.std()),
                }
            )
    finally:
        img2img_module.randn_tensor = original_randn
    return records


def encoder_sensitivity(
    models: fixtures.TinyModels, taesd: Any, case: dict[str, Any], oracle_dir: Path
) -> dict[str, float]:
    """PSNR of likely encoder mistakes against the correct img2img image (diffusers with the mistake made)."""
    import torch
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as img2img_module

    correct = np.load(oracle_dir / case["image"])[0]
    init = _init_pixels(oracle_dir)
    original_randn = img2img_module.randn_tensor
    original_retrieve = img2img_module.retrieve_latents
    tensor = torch.from_numpy(np.load(oracle_dir / case["noise"]))
    pixels01 = torch.from_numpy(np.asarray(init, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    mistakes: dict[str, Any] = {
        # The encoder's TAESD-scale latents taken as SD's "mean" (not divided by 0.18215 in the wrapper).
        "encoder_unscaled": lambda out, generator=None, sample_mode="sample": out.latents * SD_SCALING_FACTOR,
        # The image fed in [0, 1] where the graph takes [-1, 1].
        "encoder_input_range": lambda out, generator=None, sample_mode="sample": taesd.encode(pixels01).latents,
    }
    results: dict[str, float] = {}
    try:
        img2img_module.randn_tensor = lambda shape, _t=tensor, **_: _t.reshape(shape).clone()
        for name, retrieve in mistakes.items():
            pipe = _oracle_pipeline(models, taesd, img2img=True)
            img2img_module.retrieve_latents = retrieve
            with torch.no_grad():
                embeds = models.text_encoder(torch.tensor([case["input_ids"]])).last_hidden_state
                output = pipe(
                    prompt_embeds=embeds,
                    image=init,
                    strength=case["strength"],
                    num_inference_steps=case["steps"],
                    guidance_scale=0.0,
                    output_type="np",
                )
            wrong = np.asarray(output.images, dtype=np.float32)[0]
            results[name] = round(fixtures.psnr(wrong, correct), 2)
    finally:
        img2img_module.randn_tensor = original_randn
        img2img_module.retrieve_latents = original_retrieve
    return results


def decoder_sensitivity(
    models: fixtures.TinyModels, taesd: Any, case: dict[str, Any], oracle_dir: Path
) -> dict[str, float]:
    """PSNR of likely mistakes against the correct image: each must fall far below the tests' threshold."""
    import torch

    sigma = 14.614641
    noise = torch.from_numpy(np.load(oracle_dir / case["latents"]))
    correct = np.load(oracle_dir / case["image"])[0]
    with torch.no_grad():
        embeds = models.text_encoder(torch.tensor([case["input_ids"]])).last_hidden_state
        latents = noise * sigma
        eps = models.unet(latents / (sigma**2 + 1) ** 0.5, torch.tensor([999]), embeds, return_dict=False)[0]
        x0 = latents - sigma * eps

        def pixels(decoded: Any) -> Any:
            return (decoded / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).numpy()

        mistakes = {
            # The big VAE's input fed to TAESD unchanged (no * 0.18215 in the wrapper).
            "unscaled_latents": pixels(taesd.decode(x0 / SD_SCALING_FACTOR, return_dict=False)[0]),
            # TAESD's [0, 1] output taken as pixels without its [-1, 1] convention.
            "output_range": np.clip(pixels(taesd.decode(x0, return_dict=False)[0]) * 2 - 0.5, 0, 1),
        }
    return {name: round(fixtures.psnr(image.astype(np.float32), correct), 2) for name, image in mistakes.items()}


def write_tiny_fixture(fixtures_dir: Path) -> dict[str, Any]:
    """fixtures/tiny-sd-turbo-taesd (fp32), fixtures/oracle-taesd and the public-layout stand-in."""
    models = fixtures.build_models()
    taesd = build_tiny_taesd()
    base, out = fixtures_dir / "tiny-sd-turbo", fixtures_dir / TINY_FIXTURE
    # The same tiny text encoder and UNet: rebuilt from their seeds, so check the exports are the same.
    for name in SHARED_FILES:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / name, out / name)
    export_decoder(taesd, out / "vae_decoder" / "model.onnx", half=False, latent=fixtures.LATENT_SIZE)
    export_encoder(taesd, out / "vae_encoder" / "model.onnx", half=False, image=fixtures.IMAGE_SIZE)
    export_public_layout(taesd, fixtures_dir / TINY_PUBLIC_EXPORT, latent=fixtures.LATENT_SIZE)
    oracle = make_tiny_oracle(models, taesd, fixtures_dir / TINY_ORACLE)
    fixtures._write_json(fixtures_dir / TINY_ORACLE / "cases.json", oracle)
    return {"cases": [c["id"] for c in oracle["cases"]], "sensitivity": oracle["sensitivity"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="a TAESD draft model directory from AutoencoderTiny weights")
    export.add_argument("--weights", type=Path, required=True, help="AutoencoderTiny directory (madebyollin/taesd)")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--base", type=Path, help="model directory whose text encoder, UNet, tokenizer to share")
    export.add_argument("--fp32", action="store_true", help="fp32 inside (default: fp16 inside, fp32 I/O)")
    fixture = commands.add_parser("fixture", help="the tiny TAESD fixture and its diffusers oracle")
    fixture.add_argument("--fixtures", type=Path, default=Path("fixtures"))
    args = parser.parse_args(argv)
    if args.command == "export":
        summary = export_model(args.weights, args.out, args.base, half=not args.fp32)
    else:
        summary = write_tiny_fixture(args.fixtures)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
