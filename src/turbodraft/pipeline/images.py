"""Pixels in and out: PNG encoding, atomic writes, and loading an init image as diffusers would."""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from turbodraft.pipeline.errors import InvalidInitImage

F32 = npt.NDArray[np.float32]


def to_uint8(pixels: F32) -> npt.NDArray[np.uint8]:
    """[H, W, 3] or [1, H, W, 3] floats in [0, 1] to uint8, rounding as diffusers' numpy_to_pil does."""
    image = pixels[0] if pixels.ndim == 4 else pixels
    return (image * 255).round().astype(np.uint8)


def png_bytes(pixels: F32) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(pixels), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old file or the whole new one.

    The file gets the usual permissions (0666 less the umask), as `open` would give it, not mkstemp's 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_png(path: Path, pixels: F32) -> None:
    write_atomic(path, png_bytes(pixels))


def load_init_image(path: Path, width: int, height: int) -> F32:
    """An image file as float32 [H, W, 3] in [0, 1], resized (Lanczos, as diffusers) to width x height."""
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise InvalidInitImage(f"cannot read init image {path}: {exc}") from exc
    if image.size != (width, height):
        image = image.resize((width, height), resample=Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32) / np.float32(255.0)
