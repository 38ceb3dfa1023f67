"""`models pull` from a Hub endpoint: a real HTTP server on 127.0.0.1 that speaks the Hub's download URLs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants as hf_constants

from tests.hub_server import HubServer
from turbodraft.models.lockfile import HubOrigin, lock_path, read_lock
from turbodraft.models.manifest import FileOrigin, HuggingFaceSource, ModelFile, ModelVariant, load_manifest
from turbodraft.models.mirror import FileNotOnHub, IntegrityError, SourceUnavailable, pull

REPO = "test-org/tiny-web"
TOKENIZER_REPO = "test-org/clip-tokenizer"
#: Bigger than huggingface_hub's 10 MiB read chunk, so a cut after 11 MiB leaves a whole chunk written.
UNET_SIZE = 12 * 1024 * 1024
CUT_AT = 11 * 1024 * 1024


def payload(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


GRAPHS = {
    "text_encoder/model.onnx": payload(1, 40_000),
    "unet/model.onnx": payload(2, UNET_SIZE),
    "vae_decoder/model.onnx": payload(3, 30_000),
}
TOKENIZER = b'{"model": {"type": "BPE"}}\n'


def variant_files(sha256: dict[str, str] | None = None) -> list[ModelFile]:
    """The graphs from REPO and the tokenizer from another repository, as in the real manifest."""
    hashes = sha256 or {}
    tokenizer_origin = FileOrigin(repo=TOKENIZER_REPO, revision="main", path="tokenizer.json")
    return [ModelFile(path=p, sha256=hashes.get(p)) for p in GRAPHS] + [
        ModelFile(path="tokenizer.json", origin=tokenizer_origin)
    ]


def hub_variant(files: list[ModelFile] | None = None, revision: str = "main") -> ModelVariant:
    """The real fp16 variant's shape, pointed at the test repositories."""
    if files is None:
        files = variant_files()
    return (
        load_manifest()
        .variant("sd-turbo-fp16")
        .model_copy(
            update={
                "id": "test-hub-variant",
                "source": HuggingFaceSource(kind="huggingface", repo=REPO, revision=revision),
                "files": files,
            }
        )
    )


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer.running() as server:
        server.add_commit(REPO, GRAPHS)
        server.add_commit(TOKENIZER_REPO, {"tokenizer.json": TOKENIZER})
        yield server


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def test_pull_mirrors_every_file_and_locks_its_size_and_sha256(hub: HubServer, models_dir: Path) -> None:
    lock = pull(hub_variant(), models_dir, endpoint=hub.url)

    for path, content in GRAPHS.items():
        assert (models_dir / "test-hub-variant" / path).read_bytes() == content
        locked = lock.file(path)
        assert locked is not None
        assert (locked.size, locked.sha256) == (len(content), hub.file(REPO, path).sha256)
    assert read_lock(models_dir, "test-hub-variant") == lock


def test_pull_fetches_every_file_at_the_commit_the_branch_resolved_to(
    hub: HubServer, models_dir: Path
) -> None:
    commit = hub.repos[REPO].branches["main"]

    lock = pull(hub_variant(), models_dir, endpoint=hub.url)

    assert isinstance(lock.origin, HubOrigin)
    assert (lock.origin.revision, lock.origin.commit) == ("main", commit)
    gets = [r for r in hub.requests if r.method == "GET" and r.repo == REPO]
    assert len(gets) == len(GRAPHS)
    assert {r.revision for r in gets} == {commit}


def test_a_file_with_an_origin_comes_from_that_repository_at_its_own_commit(
    hub: HubServer, models_dir: Path
) -> None:
    lock = pull(hub_variant(), models_dir, endpoint=hub.url)

    tokenizer = lock.file("tokenizer.json")
    assert tokenizer is not None
    assert (tokenizer.repo, tokenizer.commit) == (TOKENIZER_REPO, hub.repos[TOKENIZER_REPO].branches["main"])
    assert (models_dir / "test-hub-variant" / "tokenizer.json").read_bytes() == TOKENIZER


def test_a_transfer_cut_mid_file_resumes_with_a_range_request(hub: HubServer, models_dir: Path) -> None:
    hub.cut_once(REPO, "unet/model.onnx", after_bytes=CUT_AT)

    pull(hub_variant(), models_dir, endpoint=hub.url)

    assert (models_dir / "test-hub-variant" / "unet/model.onnx").read_bytes() == GRAPHS["unet/model.onnx"]
    gets = hub.gets_of(REPO, "unet/model.onnx")
    assert [g.status for g in gets] == [200, 206]
    assert gets[1].range is not None and gets[1].range.startswith("bytes=")
    # Resumed, not restarted: only the bytes after the last whole client read chunk (1 MiB) come twice.
    served = hub.bytes_served[f"{REPO}/unet/model.onnx"]
    assert UNET_SIZE <= served <= UNET_SIZE + CUT_AT % hf_constants.DOWNLOAD_CHUNK_SIZE
    assert served < CUT_AT + UNET_SIZE


def test_a_second_pull_resumes_the_partial_file_a_failed_pull_left(hub: HubServer, models_dir: Path) -> None:
    hub.cut_once(REPO, "unet/model.onnx", after_bytes=CUT_AT)
    hub.fail_gets(REPO, "unet/model.onnx", times=1)

    with pytest.raises(SourceUnavailable, match="pull` again resumes"):
        pull(hub_variant(), models_dir, endpoint=hub.url)
    assert read_lock(models_dir, "test-hub-variant") is None
    partials = list((models_dir / "test-hub-variant" / "unet").glob("*.incomplete"))
    assert len(partials) == 1
    kept = partials[0].stat().st_size
    assert 0 < kept < UNET_SIZE

    pull(hub_variant(), models_dir, endpoint=hub.url)

    assert (models_dir / "test-hub-variant" / "unet/model.onnx").read_bytes() == GRAPHS["unet/model.onnx"]
    assert hub.gets_of(REPO, "unet/model.onnx")[-1].range == f"bytes={kept}-"
    served = hub.bytes_served[f"{REPO}/unet/model.onnx"]
    assert served <= UNET_SIZE + hf_constants.DOWNLOAD_CHUNK_SIZE
    assert not list((models_dir / "test-hub-variant").rglob("*.incomplete"))


def _assert_nothing_kept(models_dir: Path, path: str) -> None:
    target = models_dir / "test-hub-variant" / path
    assert not target.exists()
    assert not list(target.parent.glob("*.incomplete"))
    assert not lock_path(models_dir, "test-hub-variant").exists()


def test_bytes_that_differ_from_the_manifest_sha256_are_rejected_and_discarded(
    hub: HubServer, models_dir: Path
) -> None:
    true_sha = hub.file(REPO, "vae_decoder/model.onnx").sha256
    files = variant_files({"vae_decoder/model.onnx": true_sha})
    hub.tamper(REPO, "vae_decoder/model.onnx")

    with pytest.raises(IntegrityError, match=r"vae_decoder/model\.onnx: sha256 mismatch") as caught:
        pull(hub_variant(files), models_dir, endpoint=hub.url)

    assert caught.value.expected == true_sha
    _assert_nothing_kept(models_dir, "vae_decoder/model.onnx")


def test_without_a_manifest_hash_an_lfs_file_is_checked_against_the_hub_sha256(
    hub: HubServer, models_dir: Path
) -> None:
    hub.tamper(REPO, "text_encoder/model.onnx")

    with pytest.raises(IntegrityError, match=r"text_encoder/model\.onnx: sha256 mismatch"):
        pull(hub_variant(), models_dir, endpoint=hub.url)

    _assert_nothing_kept(models_dir, "text_encoder/model.onnx")


def test_a_hub_file_whose_sha256_contradicts_the_manifest_is_refused_before_downloading(
    hub: HubServer, models_dir: Path
) -> None:
    files = variant_files({"unet/model.onnx": "0" * 64})

    with pytest.raises(IntegrityError, match="Hub vs manifest"):
        pull(hub_variant(files), models_dir, endpoint=hub.url)

    assert hub.gets_of(REPO, "unet/model.onnx") == []


def test_pulling_a_complete_mirror_again_downloads_nothing(hub: HubServer, models_dir: Path) -> None:
    pull(hub_variant(), models_dir, endpoint=hub.url)
    gets_before = sum(1 for r in hub.requests if r.method == "GET")

    pull(hub_variant(), models_dir, endpoint=hub.url)

    assert sum(1 for r in hub.requests if r.method == "GET") == gets_before


def test_a_moved_branch_is_pulled_at_its_new_commit(hub: HubServer, models_dir: Path) -> None:
    pull(hub_variant(), models_dir, endpoint=hub.url)
    new_unet = payload(9, 50_000)
    commit = hub.add_commit(REPO, {**GRAPHS, "unet/model.onnx": new_unet})

    lock = pull(hub_variant(), models_dir, endpoint=hub.url)

    assert isinstance(lock.origin, HubOrigin) and lock.origin.commit == commit
    assert (models_dir / "test-hub-variant" / "unet/model.onnx").read_bytes() == new_unet


def test_an_unknown_repository_is_a_clear_error(hub: HubServer, models_dir: Path) -> None:
    variant = hub_variant().model_copy(
        update={"source": HuggingFaceSource(kind="huggingface", repo="nobody/nothing", revision="main")}
    )

    with pytest.raises(SourceUnavailable, match="nobody/nothing"):
        pull(variant, models_dir, endpoint=hub.url)


def test_a_required_file_missing_on_the_hub_fails_the_pull(hub: HubServer, models_dir: Path) -> None:
    files = [ModelFile(path=p) for p in GRAPHS] + [ModelFile(path="tokenizer.json")]

    with pytest.raises(FileNotOnHub, match=r"tokenizer\.json"):
        pull(hub_variant(files), models_dir, endpoint=hub.url)


def test_an_optional_file_missing_on_the_hub_is_skipped(hub: HubServer, models_dir: Path) -> None:
    files = [ModelFile(path=p) for p in GRAPHS] + [ModelFile(path="vae_encoder/model.onnx", required=False)]

    lock = pull(hub_variant(files), models_dir, endpoint=hub.url)

    assert [f.path for f in lock.files] == list(GRAPHS)
