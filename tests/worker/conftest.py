"""Fixtures of the SDXL worker tests: a tiny random-weight SDXL pipeline on disk, images, a local HTTP server.

These tests run in their own virtualenv with CPU torch (``make -f mk/worker.mk test-worker``); the main suite
ignores this folder because its venv has no torch.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.worker.support import CancelAfterChecks, ImageServer, Route

MODEL_ENV = "TURBODRAFT_WORKER_MODEL"


def _byte_level_vocab() -> dict[str, int]:
    """CLIP's byte-to-unicode alphabet, each char alone and word-final, plus the two specials: no merges."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = [chr(b) for b in printable]
    chars += [chr(256 + n) for n in range(256 - len(printable))]
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def build_tiny_sdxl(directory: Path) -> Path:
    """Save a random-weight pipeline with SDXL's architecture (two CLIP encoders, text_time UNet, 8x VAE)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    vocab = _byte_level_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text_config = CLIPTextConfig(
        vocab_size=len(vocab),
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        projection_dim=32,
        max_position_embeddings=77,
    )
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        # SDXL's added conditioning: 6 size/crop numbers x 8 dims + the 32-dim pooled text embedding.
        projection_class_embeddings_input_dim=6 * 8 + 32,
        # Both encoders' hidden states concatenated: 32 + 32.
        cross_attention_dim=64,
        norm_num_groups=1,
    )
    vae = AutoencoderKL(
        block_out_channels=(4, 4, 4, 4),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        sample_size=64,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipeline = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_config),
        text_encoder_2=CLIPTextModelWithProjection(text_config),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    pipeline.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(autouse=True)
def worker_env(tiny_sdxl: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's worker loads the tiny model through the variable a deployed one reads, on the CPU.

    ``TURBODRAFT_WORKER_TEST_DEVICE=cuda`` runs the same tests on a GPU (fp16, as in the Docker image).
    """
    monkeypatch.setenv(MODEL_ENV, str(tiny_sdxl))
    monkeypatch.setenv("TURBODRAFT_WORKER_DEVICE", os.environ.get("TURBODRAFT_WORKER_TEST_DEVICE", "cpu"))
    for name in ("TURBODRAFT_WORKER_VARIANT", "TURBODRAFT_WORKER_VAE"):
        monkeypatch.delenv(name, raising=False)
    return tiny_sdxl


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    state: dict[str, ImageServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            server = state["server"]
            route = server.routes.get(
                self.path, Route(status=404, body=b"not found", content_type="text/plain")
            )
            if route.delay_s and server.stop.wait(route.delay_s):
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            # The worker hangs up on purpose past its size limit.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server = ImageServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    state["server"] = server
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cancel_after() -> Callable[[int], CancelAfterChecks]:
    return CancelAfterChecks
