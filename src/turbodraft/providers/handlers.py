"""The pluggable job handler interface of the local RunPod server, its test handlers and a registry by name.

A handler is what a RunPod worker runs for one job: it takes the job's ``input`` dict and a cancellation flag
and returns the job's output (anything JSON-serialisable). Handlers are CPU-bound and run in a thread pool, so
the flag is a ``threading.Event``: a long handler should poll it (or ``wait`` on it instead of sleeping) and
return early once it is set, because the server stops billing the job at that moment.

Real handlers (the SD-Turbo twin, the SDXL worker) live in other packages and are imported lazily by name,
so starting the local server with the echo handler never imports onnxruntime or torch.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import inspect
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

#: A handler: (job input, cancellation flag) -> JSON-serialisable output.
Handler = Callable[[dict[str, Any], threading.Event], object]


class HandlerError(Exception):
    """A handler name or import path that cannot be resolved to a callable."""


class JobCancelledError(Exception):
    """Raised by a handler that saw its cancellation flag and stopped early."""


def _cooperative_controls(job_input: dict[str, Any], cancelled: threading.Event) -> None:
    """Test controls shared by the built-in handlers: ``sleep_s`` (interruptible) and ``fail`` (an error)."""
    sleep_s = job_input.get("sleep_s", 0)
    if not isinstance(sleep_s, int | float) or isinstance(sleep_s, bool) or sleep_s < 0:
        raise ValueError("sleep_s must be a non-negative number")
    # Waiting on the flag instead of time.sleep is what lets a cancelled or timed-out job stop promptly.
    if sleep_s and cancelled.wait(float(sleep_s)):
        raise JobCancelledError("cancelled while sleeping")
    if cancelled.is_set():
        raise JobCancelledError("cancelled")
    fail = job_input.get("fail")
    if fail:
        raise RuntimeError(str(fail) if isinstance(fail, str) else "requested failure")


def echo_handler(job_input: dict[str, Any], cancelled: threading.Event) -> object:
    """Return ``input["output"]`` verbatim when given (to test output formats), else ``{"echo": input}``."""
    _cooperative_controls(job_input, cancelled)
    if "output" in job_input:
        return job_input["output"]
    return {"echo": job_input}


def tiny_png(seed: int, width: int = 8, height: int = 8) -> bytes:
    """A small solid-colour PNG whose colour depends on the seed, so different jobs give different bytes."""
    digest = hashlib.sha256(str(seed).encode()).digest()
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (digest[0], digest[1], digest[2])).save(buffer, format="PNG")
    return buffer.getvalue()


def fake_sdxl_handler(job_input: dict[str, Any], cancelled: threading.Event) -> object:
    """Answer like runpod-workers/worker-sdxl (``images``, ``image_url``, ``seed``) with tiny PNGs."""
    _cooperative_controls(job_input, cancelled)
    seed = job_input.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError("seed must be an integer")
    count = job_input.get("num_images", 1)
    if not isinstance(count, int) or not 1 <= count <= 2:
        raise ValueError("num_images must be 1 or 2")
    images = [
        "data:image/png;base64," + base64.b64encode(tiny_png(seed + index)).decode("ascii")
        for index in range(count)
    ]
    return {"images": images, "image_url": images[0], "seed": seed}


@dataclass(frozen=True)
class HandlerSpec:
    """Where a named handler lives and which calling convention it uses.

    ``native`` handlers take ``(input, cancelled)``; ``runpod`` handlers are written for the runpod SDK and
    take one ``job`` dict ``{"id", "input"}`` (they cannot see the flag: cancelling stops billing, not work).
    """

    import_path: str
    style: Literal["native", "runpod"] = "native"


#: Handlers by name. The last two are written elsewhere in the project; the paths are resolved only on use.
HANDLERS: dict[str, HandlerSpec] = {
    "echo": HandlerSpec("turbodraft.providers.handlers:echo_handler"),
    "fake-sdxl": HandlerSpec("turbodraft.providers.handlers:fake_sdxl_handler"),
    "sd-turbo": HandlerSpec("turbodraft.providers.sd_turbo_handler:handler"),
    "sdxl": HandlerSpec("turbodraft.worker.handler:handle"),
}


def _adapt_runpod_style(func: Callable[[dict[str, Any]], object]) -> Handler:
    def call(job_input: dict[str, Any], cancelled: threading.Event) -> object:
        return func({"id": "local", "input": job_input})

    return call


def resolve_handler(name_or_path: str) -> Handler:
    """A handler from a registry name (``echo``) or an import path (``package.module:function``)."""
    spec = HANDLERS.get(name_or_path)
    if spec is None:
        if ":" not in name_or_path:
            known = ", ".join(sorted(HANDLERS))
            raise HandlerError(f"unknown handler {name_or_path!r}; use one of {known} or module:function")
        spec = HandlerSpec(name_or_path)
    module_name, _, attr = spec.import_path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerError(f"handler {name_or_path!r}: cannot import {module_name}: {exc}") from exc
    func = getattr(module, attr, None)
    if not callable(func):
        raise HandlerError(f"handler {name_or_path!r}: {spec.import_path} is not a callable")
    if spec.style == "runpod":
        return _adapt_runpod_style(func)
    if len(inspect.signature(func).parameters) != 2:
        raise HandlerError(f"handler {name_or_path!r} must take (job_input, cancelled)")
    handler: Handler = func
    return handler
