"""Canvas tools' speed: the Python twin (numpy + onnxruntime) and the browser engine (web/src/engine/tools)
in headless Chromium on wasm, per tool model, plus sketch-to-image's stroke-to-picture latency (the engine's
img2img at a low strength from a sketch's init image).

Each tool is timed on a synthetic image of the asked size (upscale input side, background-removal image side,
style side): `cold` is the first run of a fresh engine (session creation in `load`), `warm` the median of
`runs` runs after `warmup`; `per_s` = 1000 / warm median (style's frames per second, e.g.).

    turbodraft bench tools --json                         (the tiny fixtures: no download needed)
    turbodraft bench tools --models realesr-general-x4v3,u2netp,style-mosaic --upscale-side 512 --matte-side 1024

The JSON names the machine (bench/_machine.py) and goes to bench/results/tools-<machine>.json.

On the GPU machine the browser engine runs through Dawn in Node rather than Chromium (bench/gpu/README in
spirit): `ToolEngine` and the tool ops touch no DOM, so a Node script constructs
`new ToolEngine({ host: new Engine({ ort, gpu: dawnGpu, readerFor }).host() })` with bench/gpu's dawn shim and
times `run` on the same inputs, beside native PyTorch fp16 (devtools/toolmodels/archs on the real weights) in
the same process run; docs/tools.md lists what that run must carry.
"""

from __future__ import annotations

import base64
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from turbodraft.chromium import CHROMIUM, NO_WEBGPU_ARGS, WEBGPU_ARGS
from turbodraft.cli.bench import load_bench_module
from turbodraft.models.manifest import REPO_ROOT, ToolModel, UnknownModel, load_manifest, local_model_dir

DEFAULT_MODELS = ("tiny-realesr-general-x4v3", "tiny-u2netp", "tiny-fast-neural-style")
DEFAULT_SKETCH_MODEL = "tiny-sd-turbo"
BACKENDS = ("python", "wasm", "webgpu")
RESULTS_DIR = REPO_ROOT / "bench" / "results"
WEB_DIST = REPO_ROOT / "web" / "dist"
PROFILES: dict[str, list[str]] = {"wasm": list(NO_WEBGPU_ARGS), "webgpu": list(WEBGPU_ARGS)}
MODELS_PATH = "/bench-models"
RUN_TIMEOUT_MS = 600_000
RUN = """async ([request, timeoutMs]) => {
  try {
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs));
    const call = request.tool === 'sketch'
      ? window.turbodraft.generate(request.generate)
      : window.turbodraft.tools.run(request);
    const { png, pixels, rgba, progress, ...result } = await Promise.race([call, timeout]);
    return { ok: true, result };
  } catch (e) {
    return { ok: false, code: e.code ?? null, message: String(e.message ?? e) };
  }
}"""

_machine = load_bench_module("_machine")


class BenchError(RuntimeError):
    """The benchmark cannot run here; the message says why."""


def default_out(info: dict[str, Any]) -> Path:
    return RESULTS_DIR / f"tools-{_machine.machine_slug(info)}.json"


def synthetic(width: int, height: int, seed: int = 7) -> npt.NDArray[np.uint8]:
    """A deterministic RGB image with gradients, a disc and noise (what the tool sees matters little)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    img = np.stack([0.2 + 0.6 * u, 0.3 + 0.5 * v, 0.7 - 0.5 * u * v], axis=2)
    disc = (np.hypot(u - 0.5, v - 0.5) < 0.3)[:, :, None]
    img = np.where(disc, img * 0.4 + 0.5, img) + rng.normal(0, 0.03, img.shape)
    out: npt.NDArray[np.uint8] = np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return out


def summary(times: list[float]) -> dict[str, float]:
    median = statistics.median(times)
    return {
        "runs": len(times),
        "median_ms": round(median, 3),
        "min_ms": round(min(times), 3),
        "max_ms": round(max(times), 3),
        "per_s": round(1000 / median, 3) if median > 0 else float("inf"),
    }


def tool_size(model: ToolModel, sides: dict[str, int]) -> tuple[int, int]:
    side = sides[model.tool]
    if model.upscale is not None:
        side -= side % model.upscale.multiple_of
    return side, side


# --- the Python twin ----------------------------------------------------------------------------------------


def python_tool(model: ToolModel, root: Path, pixels: npt.NDArray[np.uint8], runs: int, warmup: int) -> dict[str, Any]:
    import onnxruntime as ort

    from turbodraft.tools import ToolSession, remove_background, stylize, upscale

    def one(session: ToolSession) -> float:
        started = time.perf_counter()
        if model.tool == "upscale":
            upscale(session, pixels)
        elif model.tool == "matte":
            remove_background(session, pixels)
        else:
            stylize(session, pixels, strength=1.0)
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    session = ToolSession(model, root)
    load_ms = (time.perf_counter() - started) * 1000
    first = one(session)
    for _ in range(warmup):
        one(session)
    return {
        "engine": "Python twin (turbodraft.tools)",
        "runtime": f"onnxruntime {ort.__version__}",
        "provider": session.provider,
        "cold_ms": {"load": round(load_ms, 3), "run": round(first, 3), "total": round(load_ms + first, 3)},
        "warm": summary([one(session) for _ in range(runs)]),
    }


def python_sketch(model_id: str, models_dir: Path, request: dict[str, Any], runs: int, warmup: int) -> dict[str, Any]:
    from turbodraft.pipeline import GenerateRequest, Pipeline

    generate = GenerateRequest(**request)
    pipeline = Pipeline.from_model(model_id, models_dir)

    def one() -> float:
        started = time.perf_counter()
        pipeline.generate(generate)
        return (time.perf_counter() - started) * 1000

    first = one()
    for _ in range(warmup):
        one()
    return {
        "engine": "Python twin (turbodraft.pipeline)",
        "cold_run_ms": round(first, 3),
        "warm": summary([one() for _ in range(runs)]),
    }


# --- the browser engine -------------------------------------------------------------------------------------


@contextmanager
def page_server(model_dirs: dict[str, Path]) -> Iterator[str]:
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from turbodraft.config import Settings
    from turbodraft.gateway import create_app
    from turbodraft.providers.runpod_local.server import serving_in_thread

    if not (WEB_DIST / "index.html").is_file():
        raise BenchError(f"{WEB_DIST} has no build: run `make setup` (or `npm run build` in web/) first")
    with tempfile.TemporaryDirectory(prefix="turbodraft-bench-tools-") as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), web_dir=WEB_DIST, rate_limit_per_minute=0))
        for model_id, root in model_dirs.items():
            app.router.routes.insert(0, Mount(f"{MODELS_PATH}/{model_id}", app=StaticFiles(directory=root)))
        with serving_in_thread(app) as origin:
            yield origin


def _run(page: Any, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    outcome: dict[str, Any] = page.evaluate(RUN, [request, RUN_TIMEOUT_MS])
    wall = (time.perf_counter() - started) * 1000
    if not outcome["ok"]:
        raise BenchError(f"the browser engine failed ({outcome['code']}): {outcome['message']}")
    result: dict[str, Any] = outcome["result"]
    return result, wall


def browser_runs(page: Any, request: dict[str, Any], runs: int, warmup: int, backend: str) -> dict[str, Any]:
    first, first_wall = _run(page, request)
    if first.get("backend") != backend:
        raise BenchError(f"asked for {backend}, the engine ran {first.get('backend')}: {first.get('reason')}")
    for _ in range(warmup):
        _run(page, request)
    runs_ms = []
    walls = []
    for _ in range(runs):
        result, wall = _run(page, request)
        runs_ms.append(float(result["timings"].get("run", result["timings"]["total"])))
        walls.append(wall)
    return {
        "cold_ms": {k: round(v, 3) for k, v in first["timings"].items()},
        "cold_wall_ms": round(first_wall, 3),
        # `run`: the tool inside the worker (or the whole generation for a sketch); wall adds messaging.
        "warm": {**summary(runs_ms), "median_wall_ms": round(statistics.median(walls), 3)},
    }


def browser(
    backend: str,
    tools: list[tuple[ToolModel, npt.NDArray[np.uint8]]],
    sketch: dict[str, Any] | None,
    model_dirs: dict[str, Path],
    runs: int,
    warmup: int,
) -> dict[str, Any]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise BenchError(f"Chromium is missing ({CHROMIUM}): `make chromium` installs Debian's")
    out: dict[str, Any] = {}
    try:
        with page_server(model_dirs) as origin, sync_playwright() as playwright:
            browser_ = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=PROFILES[backend])
            try:
                page = browser_.new_context().new_page()
                page.goto(origin + "/")
                page.wait_for_function("() => window.turbodraft && window.turbodraft.tools", timeout=60_000)
                page.evaluate("(base) => window.turbodraft.engine.configure({ modelBaseUrl: base })", MODELS_PATH)
                out["chromium"] = browser_.version
                out["flags"] = PROFILES[backend]
                for model, pixels in tools:
                    h, w = pixels.shape[:2]
                    rgba = np.concatenate([pixels, np.full((h, w, 1), 255, np.uint8)], axis=2)
                    request = {
                        "tool": model.tool,
                        "model": model.id,
                        "backend": backend,
                        "image": {"width": w, "height": h, "rgba": base64.b64encode(rgba.tobytes()).decode()},
                    }
                    out[model.id] = browser_runs(page, request, runs, warmup, backend)
                if sketch is not None:
                    out["sketch"] = browser_runs(
                        page, {"tool": "sketch", "generate": {**sketch, "backend": backend}}, runs, warmup, backend
                    )
            finally:
                browser_.close()
    except PlaywrightError as exc:
        raise BenchError(f"Chromium: {exc.message}") from exc
    return out


# --- the whole benchmark ------------------------------------------------------------------------------------


def run(
    models: Sequence[str] = DEFAULT_MODELS,
    backends: Sequence[str] = ("python", "wasm"),
    runs: int = 5,
    warmup: int = 1,
    sides: dict[str, int] | None = None,
    sketch_model: str | None = DEFAULT_SKETCH_MODEL,
    sketch_side: int = 64,
    models_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise BenchError(f"unknown backends {unknown}: choose from {', '.join(BACKENDS)}")
    if runs < 1 or warmup < 0:
        raise BenchError("runs must be at least 1 and warm-ups at least 0")
    say = progress or (lambda _message: None)
    sizes = {"upscale": 64, "matte": 128, "style": 128, **(sides or {})}
    if models_dir is None:
        from turbodraft.config import Settings

        models_dir = Settings().models_dir
    manifest = load_manifest()
    chosen: list[tuple[ToolModel, Path, npt.NDArray[np.uint8]]] = []
    for model_id in models:
        try:
            model = manifest.tool(model_id)
        except UnknownModel as exc:
            raise BenchError(str(exc)) from exc
        root = local_model_dir(model, models_dir)
        if not (root / model.graph).is_file():
            raise BenchError(f"{model.id} is not here ({root / model.graph}): `turbodraft models pull {model.id}`")
        w, h = tool_size(model, sizes)
        chosen.append((model, root, synthetic(w, h)))
    model_dirs = {m.id: root for m, root, _ in chosen}
    sketch_request: dict[str, Any] | None = None
    if sketch_model is not None:
        from turbodraft.tools.sketch import sketch_init_image

        variant = manifest.variant(sketch_model)
        model_dirs[sketch_model] = local_model_dir(variant, models_dir)
        strokes = np.concatenate(
            [synthetic(sketch_side, sketch_side, 3), np.full((sketch_side,) * 2 + (1,), 255, np.uint8)], 2
        )
        init = sketch_init_image(strokes, sketch_side, sketch_side)
        sketch_request = {
            "prompt": "a house by a lake",
            "seed": 5,
            "steps": 4,
            "strength": 0.25,
            "width": sketch_side,
            "height": sketch_side,
            "model": sketch_model,
            "initImage": init,
        }
    info = _machine.machine()
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "tools",
        "unit": "milliseconds per run; warm = median of `runs` after `warmup`; per_s = 1000 / median",
        "inputs": {
            m.id: {"tool": m.tool, "input": list(px.shape[1::-1]), "output_scale": m.upscale.scale if m.upscale else 1}
            for m, _, px in chosen
        },
        "machine": info,
    }
    if sketch_request is not None:
        result["inputs"]["sketch"] = {
            "model": sketch_model,
            "side": sketch_side,
            "steps": 4,
            "strength": 0.25,
            "unet_steps": 1,
        }
    if "python" in backends:
        say("Python twin ...")
        twin = {m.id: python_tool(m, root, px, runs, warmup) for m, root, px in chosen}
        if sketch_request is not None:
            req = {k: v for k, v in sketch_request.items() if k != "model"}
            req["init_image"] = req.pop("initImage").reshape(sketch_side, sketch_side, 3)
            twin["sketch"] = python_sketch(str(sketch_model), models_dir, req, runs, warmup)
        result["python"] = twin
    for backend in ("wasm", "webgpu"):
        if backend in backends:
            say(f"browser engine on {backend} ...")
            sketch_browser = (
                None
                if sketch_request is None
                else {**sketch_request, "initImage": sketch_request["initImage"].reshape(-1).tolist()}
            )
            result[backend] = browser(
                backend, [(m, px) for m, _, px in chosen], sketch_browser, model_dirs, runs, warmup
            )
            if backend == "webgpu":
                result[backend]["note"] = (
                    "Chromium's WebGPU here is SwiftShader (CPU emulation) unless the machine has a GPU: "
                    "these figures say nothing about a real GPU."
                )
    result["machine"]["load_average_at_end"] = _machine.load_average()
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    return result
