"""Engine stage timings: the Python twin (numpy + onnxruntime) and the browser engine (web/src/engine) in
headless Chromium, on wasm and on WebGPU, for one model and one txt2img request.

Each engine reports milliseconds per stage: tokenize, text_encoder, unet (all steps; `unet_per_step` divides
it), vae_decoder, png (encoding the image), `other` (time in no stage) and `total` (the request as its caller
sees it: session creation when there is one, the stages and the PNG). For each engine:

    cold   the first request of a fresh engine: its sessions are created inside it (`load`), and the browser's
           Web Worker, onnxruntime-web runtime and (WebGPU) shaders are compiled then too
    warm   the median of `runs` requests after `warmup` more, with the sessions kept

The browser runs in Debian's Chromium through Playwright, with the flags of tests/browser/conftest.py: the
"no-webgpu" profile for wasm, `--enable-unsafe-webgpu` for WebGPU. On a machine without a GPU Chromium's
WebGPU adapter is SwiftShader, a CPU emulation: the JSON says so (`webgpu.adapter`, `webgpu.software`), and
its figures say nothing about a real GPU. The page is the built web app (web/dist) served by the gateway in
this process, with the model's files mounted beside it, as the engine tests serve the fixtures.

    turbodraft bench engine --json           (writes bench/results/engine-<model>-<machine>.json)
    python bench/engine.py --runs 3          (directly)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from turbodraft.chromium import CHROMIUM, NO_WEBGPU_ARGS, WEBGPU_ARGS
from turbodraft.cli.bench import load_bench_module
from turbodraft.models.manifest import REPO_ROOT, ManifestError, load_manifest, local_model_dir

DEFAULT_MODEL = "tiny-sd-turbo"
BACKENDS = ("python", "wasm", "webgpu")
RESULTS_DIR = REPO_ROOT / "bench" / "results"
WEB_DIST = REPO_ROOT / "web" / "dist"
PROFILES: dict[str, list[str]] = {"wasm": list(NO_WEBGPU_ARGS), "webgpu": list(WEBGPU_ARGS)}
MODELS_PATH = "/bench-models"
PAGE_TIMEOUT_MS = 60_000
# One generation, including a cold WebGPU one on SwiftShader (shader compilation: about 30 s on 2 cores).
GENERATE_TIMEOUT_MS = 300_000
PARTS = ("load", "tokenize", "text_encoder", "vae_encoder", "unet", "vae_decoder", "png")
STAGE_ORDER = (
    "load",
    "tokenize",
    "text_encoder",
    "unet",
    "unet_per_step",
    "vae_decoder",
    "png",
    "other",
    "total",
)

# Resolves to {ok, result} or {ok: false, ...}: an engine error crosses page.evaluate as data, not a timeout.
GENERATE = """async ([request, timeoutMs]) => {
  try {
    // page.evaluate has no timeout of its own: a stuck engine must not hang the benchmark.
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs));
    const answer = await Promise.race([window.turbodraft.generate(request), timeout]);
    const { png, pixels, progress, ...result } = answer;
    const b64 = png === null ? '' : png.slice(png.indexOf(',') + 1);
    const pngBytes = (b64.length * 3) / 4 - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
    return { ok: true, result: { ...result, pngBytes } };
  } catch (e) {
    return { ok: false, name: e.name, code: e.code ?? null, message: String(e.message ?? e) };
  }
}"""
ADAPTER = """async () => {
  if (!('gpu' in navigator)) return null;
  const adapter = await navigator.gpu.requestAdapter();
  if (adapter === null) return null;
  const info = adapter.info ?? {};
  return { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '',
           description: info.description ?? '' };
}"""


class BenchError(RuntimeError):
    """The benchmark cannot run here (no web build, no Chromium, an engine failed): the message says why."""


# --- the machine --------------------------------------------------------------------------------------------

_machine = load_bench_module("_machine")


def default_out(model: str, info: dict[str, Any]) -> Path:
    return RESULTS_DIR / f"engine-{model}-{_machine.machine_slug(info)}.json"


# --- figures ------------------------------------------------------------------------------------------------


def stages(timings: dict[str, float], steps: int) -> dict[str, float]:
    """The stages in a fixed order, rounded, with the UNet's time per step beside its total, and `other`:
    the part of the total in no stage (noise, scheduler arithmetic, copies, event-loop yields)."""
    out = dict(timings)
    if "unet" in out:
        out["unet_per_step"] = out["unet"] / steps
    if "total" in out:
        out["other"] = max(0.0, out["total"] - sum(out[k] for k in PARTS if k in out))
    ordered = [k for k in STAGE_ORDER if k in out] + sorted(k for k in out if k not in STAGE_ORDER)
    return {k: round(out[k], 3) for k in ordered}


def warm_summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Median and spread per stage over the warm runs (a stage missing from some runs is left out)."""
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    return {
        "runs": len(runs),
        "median_ms": {k: round(statistics.median(r[k] for r in runs), 3) for k in keys},
        "min_ms": {k: round(min(r[k] for r in runs), 3) for k in keys},
        "max_ms": {k: round(max(r[k] for r in runs), 3) for k in keys},
    }


# --- the Python twin ----------------------------------------------------------------------------------------


def python_twin(
    model: str, request: dict[str, Any], runs: int, warmup: int, models_dir: Path
) -> dict[str, Any]:
    import onnxruntime as ort

    from turbodraft.pipeline import GenerateRequest, Pipeline

    generate_request = GenerateRequest(**request)

    def one(pipeline: Pipeline) -> dict[str, float]:
        result = pipeline.generate(generate_request)
        started = time.perf_counter()
        result.png()
        png_ms = (time.perf_counter() - started) * 1000
        return {**result.timings_ms, "png": png_ms, "total": result.timings_ms["total"] + png_ms}

    started = time.perf_counter()
    pipeline = Pipeline.from_model(model, models_dir)
    load_ms = (time.perf_counter() - started) * 1000
    first = one(pipeline)
    cold = stages({**first, "load": load_ms, "total": first["total"] + load_ms}, request["steps"])
    for _ in range(warmup):
        one(pipeline)
    warm = [stages(one(pipeline), request["steps"]) for _ in range(runs)]
    return {
        "engine": "Python twin (turbodraft.pipeline)",
        "runtime": f"onnxruntime {ort.__version__}",
        "provider": pipeline.provider,
        "intra_op_threads": "onnxruntime's default (one per core)",
        "sessions_created": pipeline.sessions_created,
        "cold_ms": cold,
        "warm": warm_summary(warm),
    }


# --- the browser engine -------------------------------------------------------------------------------------


@contextmanager
def page_server(model: str, models_dir: Path) -> Iterator[str]:
    """The gateway (web app and all) in a thread, with the model's directory at /bench-models/<model>/."""
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from turbodraft.config import Settings
    from turbodraft.gateway import create_app
    from turbodraft.providers.runpod_local.server import serving_in_thread

    if not (WEB_DIST / "index.html").is_file():
        raise BenchError(f"{WEB_DIST} has no build: run `make setup` (or `npm run build` in web/) first")
    model_dir = local_model_dir(load_manifest().variant(model), models_dir)
    if not model_dir.is_dir():
        raise BenchError(f"{model_dir} does not exist: fetch it with `turbodraft models pull {model}`")
    with tempfile.TemporaryDirectory(prefix="turbodraft-bench-engine-") as data_dir:
        settings = Settings(data_dir=Path(data_dir), web_dir=WEB_DIST, rate_limit_per_minute=0)
        app = create_app(settings)
        # Before the web app's catch-all route.
        app.router.routes.insert(0, Mount(f"{MODELS_PATH}/{model}", app=StaticFiles(directory=model_dir)))
        with serving_in_thread(app) as origin:
            yield origin


def _generate(page: Any, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    outcome: dict[str, Any] = page.evaluate(GENERATE, [request, GENERATE_TIMEOUT_MS])
    wall_ms = (time.perf_counter() - started) * 1000
    if not outcome["ok"]:
        raise BenchError(f"the browser engine failed ({outcome['code']}): {outcome['message']}")
    result: dict[str, Any] = outcome["result"]
    return result, wall_ms


def browser_backend(
    playwright: Any, origin: str, backend: str, request: dict[str, Any], runs: int, warmup: int
) -> dict[str, Any]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=PROFILES[backend])
    try:
        page = browser.new_context().new_page()
        page.goto(origin + "/")
        page.wait_for_function(
            "() => window.turbodraft && window.turbodraft.generate", timeout=PAGE_TIMEOUT_MS
        )
        page.evaluate("(base) => window.turbodraft.engine.configure({ modelBaseUrl: base })", MODELS_PATH)
        adapter: dict[str, str] | None = page.evaluate(ADAPTER) if backend == "webgpu" else None
        if backend == "webgpu" and adapter is None:
            raise BenchError("Chromium offers no WebGPU adapter here, even with --enable-unsafe-webgpu")
        asked = {**request, "backend": backend}
        first, first_wall = _generate(page, asked)
        if first["backend"] != backend:
            raise BenchError(f"asked for {backend}, the engine ran {first['backend']}: {first['reason']}")
        for _ in range(warmup):
            _generate(page, asked)
        warm: list[dict[str, float]] = []
        walls: list[float] = []
        for _ in range(runs):
            result, wall = _generate(page, asked)
            warm.append(stages(result["timings"], result["steps"]))
            walls.append(wall)
        summary = warm_summary(warm)
        out: dict[str, Any] = {
            "engine": "browser engine (web/src/engine, onnxruntime-web in a Web Worker)",
            "backend": first["backend"],
            "chromium": browser.version,
            "flags": PROFILES[backend],
            "cold_ms": stages(first["timings"], first["steps"]),
            # Around page.evaluate: worker messages and the PNG as a data URL on top of the engine's total.
            "cold_wall_ms": round(first_wall, 3),
            "warm": {**summary, "median_wall_ms": round(statistics.median(walls), 3)},
            "sessions_created": first["sessionsCreated"],
            "png_bytes": first["pngBytes"],
        }
        if adapter is not None:
            fields = " ".join(adapter.values()).lower()
            software = "swiftshader" in fields
            out["adapter"] = adapter
            out["software"] = software
            if software:
                out["note"] = (
                    "WebGPU on SwiftShader: Chromium's CPU emulation of a GPU (this machine has none). "
                    "Correct but slow; these figures say nothing about WebGPU on a real GPU."
                )
        return out
    finally:
        browser.close()


def browser_engine(
    model: str,
    request: dict[str, Any],
    plan: Sequence[tuple[str, int, int]],
    models_dir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """`plan`: (backend, runs, warmup) in order; each backend in a browser of its own profile."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise BenchError(f"Chromium is missing ({CHROMIUM}): `make chromium` installs Debian's")
    browser_request = {**request, "model": model}
    results: dict[str, Any] = {}
    try:
        with page_server(model, models_dir) as origin, sync_playwright() as playwright:
            for backend, runs, warmup in plan:
                say(f"browser engine on {backend} ...")
                results[backend] = browser_backend(playwright, origin, backend, browser_request, runs, warmup)
    except PlaywrightError as exc:
        raise BenchError(f"Chromium: {exc.message}") from exc
    return results


# --- the whole benchmark ------------------------------------------------------------------------------------


def run(
    model: str = DEFAULT_MODEL,
    backends: Sequence[str] = BACKENDS,
    runs: int = 10,
    warmup: int = 2,
    webgpu_runs: int = 5,
    webgpu_warmup: int = 1,
    steps: int = 1,
    size: int | None = None,
    prompt: str = "a lighthouse on a cliff at dusk",
    seed: int = 42,
    models_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every asked backend in turn (Python twin first: it needs no browser); raises BenchError."""
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise BenchError(f"unknown backends {unknown}: choose from {', '.join(BACKENDS)}")
    if min(runs, webgpu_runs) < 1 or min(warmup, webgpu_warmup) < 0:
        raise BenchError("runs must be at least 1 and warm-ups at least 0")
    try:
        manifest = load_manifest()
    except ManifestError as exc:
        raise BenchError(str(exc)) from exc
    if model not in {v.id for v in manifest.variants}:
        raise BenchError(
            f"unknown model {model!r}; the manifest has {', '.join(v.id for v in manifest.variants)}"
        )
    variant = manifest.variant(model)
    side = size if size is not None else variant.image.default
    if not variant.image.accepts(side):
        raise BenchError(f"{model} takes sides from {variant.image.min} to {variant.image.max}, not {side}")
    if not 1 <= steps <= variant.max_steps:
        raise BenchError(f"{model} takes 1 to {variant.max_steps} steps, not {steps}")
    if models_dir is None:
        from turbodraft.config import Settings

        models_dir = Settings().models_dir
    say = progress or (lambda _message: None)
    info = _machine.machine()
    request = {"prompt": prompt, "seed": seed, "steps": steps, "width": side, "height": side}
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "engine",
        "unit": (
            "milliseconds per stage; cold = the first request of a fresh engine (session creation in "
            "`load`), warm = median of `runs` requests after warm-up; unet_per_step = unet / steps"
        ),
        "model": model,
        "request": {**request, "mode": "txt2img"},
        "machine": info,
    }
    if "python" in backends:
        say("Python twin ...")
        result["python_twin"] = python_twin(model, request, runs, warmup, models_dir)
    plan: list[tuple[str, int, int]] = []
    for backend in ("wasm", "webgpu"):
        if backend in backends:
            plan.append(
                (backend, webgpu_runs, webgpu_warmup) if backend == "webgpu" else (backend, runs, warmup)
            )
    if plan:
        result.update(browser_engine(model, request, plan, models_dir, say))
    result["summary_warm_total_ms"] = {
        name: result[key]["warm"]["median_ms"]["total"]
        for name, key in (("python_twin", "python_twin"), ("wasm", "wasm"), ("webgpu", "webgpu"))
        if key in result
    }
    result["duration_s"] = round(time.perf_counter() - started, 1)
    result["load_average_at_end"] = _machine.load_average()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--webgpu-runs", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args.model, args.backends.split(","), args.runs, webgpu_runs=args.webgpu_runs)
    text = json.dumps(result, indent=2)
    (args.out or default_out(args.model, result["machine"])).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
