"""A new user reaches a real model without torch: `turbodraft models pull` runs in a Python where torch (and
diffusers, transformers) cannot be imported, as in a fresh install of the package.

Each run is a subprocess of this venv with an import hook that makes those imports fail, which is as strict
as a venv without them and takes a second rather than a fresh install per test. The dry runs also have every
socket connection refused: they must need no network at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_server import HubServer
from tests.test_mirror_derived import start_hub
from turbodraft.models.manifest import load_manifest

BLOCKED = ("torch", "diffusers", "transformers")

# Runs `turbodraft <args>` with the heavy ML stacks unimportable (and, if asked, with no network).
RUNNER = """
import importlib.abc, socket, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError(f"{{name}} is not installed (blocked for this test)")
        return None

sys.meta_path.insert(0, Refuse())
if {offline!r}:
    def refuse(*args, **kwargs):
        raise OSError("network access during a dry run")
    socket.socket.connect = refuse
    socket.create_connection = refuse
sys.argv = ["turbodraft", *{args!r}]
from turbodraft.cli import main
try:
    main()
finally:
    print("LOADED:" + ",".join(sorted(m for m in sys.modules if m.split('.')[0] in {blocked!r})))
"""


def turbodraft(
    args: list[str], *, offline: bool, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    code = RUNNER.format(blocked=BLOCKED, offline=offline, args=args)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_the_import_hook_really_blocks_torch() -> None:
    hook = RUNNER.format(blocked=BLOCKED, offline=True, args=[]).split("sys.argv")[0]
    done = subprocess.run([sys.executable, "-c", hook + "import torch"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "blocked for this test" in done.stderr


@pytest.mark.parametrize("variant", [v.id for v in load_manifest().variants])
def test_every_variants_dry_run_works_without_torch_or_network(variant: str, tmp_path: Path) -> None:
    done = turbodraft(["models", "pull", variant, "--dry-run", "--data-dir", str(tmp_path)], offline=True)

    assert done.returncode == 0, done.stderr
    assert "nothing was fetched (dry run)" in done.stdout
    assert "download" in done.stdout and "result" in done.stdout
    assert "LOADED:\n" in done.stdout + "\n"
    assert not (tmp_path / "models" / variant).exists()


def test_a_dry_run_lists_every_input_with_its_size() -> None:
    done = turbodraft(["models", "pull", "sd-turbo-fp16-taesd", "--dry-run"], offline=True)

    assert done.returncode == 0, done.stderr
    for source in (
        "hf:schmuell/sd-turbo-ort-web@main/unet/model.onnx",
        "hf:deinferno/taesd-onnx@main/vae_decoder/model.onnx",
        "hf:deinferno/taesd-onnx@main/vae_encoder/model.onnx",
        "hf:Xenova/clip-vit-base-patch16@main/tokenizer.json",
    ):
        assert source in done.stdout
    assert "~1.7 GB" in done.stdout  # the UNet, as the Hub lists it
    assert "download ~2.4 GB" in done.stdout


def test_the_default_variant_pulls_and_builds_without_torch(tmp_path: Path) -> None:
    hub: HubServer = start_hub("tiny-sd-turbo")
    try:
        done = turbodraft(
            ["models", "pull", "sd-turbo-fp16-taesd", "--data-dir", str(tmp_path)],
            offline=False,
            env={"HF_ENDPOINT": hub.url},
        )
    finally:
        hub.stop()

    assert done.returncode == 0, done.stderr
    assert "verified, built from" in done.stdout
    assert "LOADED:\n" in done.stdout + "\n"
    lock = json.loads((tmp_path / "models" / "sd-turbo-fp16-taesd.lock.json").read_text())
    assert [f["path"] for f in lock["files"]] == [f.path for f in load_manifest().variant("sd-turbo-fp16-taesd").files]
