"""Model files in the web layout and the onnxruntime sessions made from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from turbodraft.models.manifest import REQUIRED_GRAPHS, TOKENIZER_FILE, VAE_ENCODER_GRAPH
from turbodraft.pipeline.errors import ModelFilesError, ProviderUnavailable

#: Short names the CLI and settings use for onnxruntime providers.
PROVIDER_ALIASES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass(frozen=True)
class ModelFiles:
    root: Path
    text_encoder: Path
    unet: Path
    vae_decoder: Path
    tokenizer: Path
    vae_encoder: Path | None

    @classmethod
    def in_dir(cls, root: Path) -> ModelFiles:
        """The files of a directory in the web layout; the VAE encoder is optional (img2img only)."""
        if not root.is_dir():
            raise ModelFilesError(f"model directory {root} does not exist")
        missing = [name for name in (*REQUIRED_GRAPHS, TOKENIZER_FILE) if not (root / name).is_file()]
        if missing:
            raise ModelFilesError(f"model directory {root} lacks {', '.join(missing)}")
        encoder = root / VAE_ENCODER_GRAPH
        return cls(
            root=root,
            text_encoder=root / REQUIRED_GRAPHS[0],
            unet=root / REQUIRED_GRAPHS[1],
            vae_decoder=root / REQUIRED_GRAPHS[2],
            tokenizer=root / TOKENIZER_FILE,
            vae_encoder=encoder if encoder.is_file() else None,
        )


def resolve_providers(requested: Sequence[str] | None) -> list[str]:
    """onnxruntime provider names, CPU last as the fallback for nodes a GPU provider lacks."""
    names = [PROVIDER_ALIASES.get(p.lower(), p) for p in (requested or ["cpu"])]
    available = ort.get_available_providers()
    for name in names:
        if name not in available:
            raise ProviderUnavailable(
                f"onnxruntime provider {name} is not available here (available: {', '.join(available)})"
            )
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")
    return names


class SessionFactory:
    """Creates onnxruntime sessions and counts them, so reuse can be checked."""

    def __init__(self, providers: Sequence[str], threads: int | None = None) -> None:
        self.providers = list(providers)
        self.threads = threads
        self.created = 0

    def create(self, path: Path) -> ort.InferenceSession:
        options = ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own non-exported exception types
            raise ModelFilesError(f"cannot load {path}: {exc}") from exc
        self.created += 1
        return session
