"""A gateway for the model panel tests: the real app (web/dist, `/models/...`, `/v1/models/...`), its pulls
pointed at a local Hugging-Face-compatible server holding the tiny stand-ins (tests/test_mirror_derived.py),
and a manifest with one variant more than the bundle's:

- `pulled-taesd`: the default variant's recipe (built from schmuell/sd-turbo-ort-web and deinferno/taesd-onnx
  stand-ins) declared fp32 for WebGPU and wasm at the tiny fixtures' sizes. The web app was built without it, so
  the engine can only run it by learning it from the served manifest; SwiftShader has no shader-f16, so this is
  how the default recipe's files are proven in the browser against the AutoencoderTiny oracle.

Model file bodies can be paced (`app.state.body_pace`, model_store_gateway.paced) for pause/resume tests.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from tests.browser.model_store_gateway import paced
from tests.conftest import WEB_DIST
from turbodraft.config import Settings
from turbodraft.gateway import create_app
from turbodraft.gateway.model_files import PREFIX, mount_model_files
from turbodraft.gateway.model_pulls import ModelPulls
from turbodraft.models.manifest import Manifest, SizeRange, load_manifest

PULLED = "pulled-taesd"


def panel_manifest() -> Manifest:
    manifest = load_manifest()
    tiny = manifest.variant("tiny-sd-turbo-taesd")
    pulled = manifest.variant("sd-turbo-fp16-taesd").model_copy(
        update={
            "id": PULLED,
            "description": "The default variant's recipe on tiny stand-ins, fp32 (a variant the web bundle lacks).",
            "dtype": "float32",
            "backends": ["webgpu", "wasm"],
            "fallback": None,
            "image": SizeRange(**tiny.image.model_dump()),
            "latent": SizeRange(**tiny.latent.model_dump()),
        }
    )
    return manifest.model_copy(update={"variants": [*manifest.variants, pulled]})


def panel_app(data_dir: Path, hub_url: str, *, allow_model_pulls: bool | None = None) -> FastAPI:
    settings = Settings(
        data_dir=data_dir, web_dir=WEB_DIST, hf_endpoint=hub_url, allow_model_pulls=allow_model_pulls
    )
    manifest = panel_manifest()
    app = paced(create_app(settings))
    app.router.routes[:] = [r for r in app.router.routes if not getattr(r, "path", "").startswith(PREFIX + "/")]
    before = len(app.router.routes)
    mount_model_files(app, settings, manifest=manifest)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added  # before the web app's catch-all
    app.state.model_pulls = ModelPulls(settings, manifest)
    return app
