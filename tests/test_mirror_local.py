"""The mirror without a Hub: copies from a directory or the repo fixtures, verify, status, remove, locate."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from filelock import FileLock

from turbodraft.models.local_copy import locate
from turbodraft.models.lockfile import DirectoryOrigin, LockFileError, lock_path, read_lock
from turbodraft.models.manifest import REPO_ROOT, ModelFile, ModelVariant, RepoPathSource, load_manifest
from turbodraft.models.mirror import (
    IntegrityError,
    MirrorError,
    NotMirrored,
    SourceUnavailable,
    pull,
    pull_lock_path,
    remove,
    status,
    verify,
)
from turbodraft.models.tamper import flip_byte

FILES = {
    "text_encoder/model.onnx": b"text-encoder-graph" * 100,
    "unet/model.onnx": b"unet-graph" * 1000,
    "vae_decoder/model.onnx": b"vae-graph" * 300,
    "tokenizer.json": b'{"model": {}}',
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


def fixture_variant(directory: Path, variant_id: str = "test-fixture") -> ModelVariant:
    """A fixture variant (files: [] = whatever the directory holds) whose repo path is `directory`."""
    relative = os.path.relpath(directory, REPO_ROOT)
    source = RepoPathSource(kind="repo_path", path=relative)
    return (
        load_manifest()
        .variant("tiny-sd-turbo")
        .model_copy(update={"id": variant_id, "source": source, "files": []})
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "source", FILES)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def test_a_fixture_variant_is_pulled_by_copying_its_repo_directory(source: Path, models_dir: Path) -> None:
    lock = pull(fixture_variant(source), models_dir)

    assert lock.origin == DirectoryOrigin(path=str(source.resolve()))
    assert sorted(f.path for f in lock.files) == sorted(FILES)
    for rel, content in FILES.items():
        assert (models_dir / "test-fixture" / rel).read_bytes() == content
        locked = lock.file(rel)
        assert locked is not None and locked.sha256 == hashlib.sha256(content).hexdigest()


def test_the_repository_tiny_model_can_be_mirrored(models_dir: Path) -> None:
    variant = load_manifest().variant("tiny-sd-turbo")

    lock = pull(variant, models_dir)

    assert {"text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx", "tokenizer.json"} <= {
        f.path for f in lock.files
    }
    assert verify(variant, models_dir).ok


def test_hidden_files_and_partials_in_a_source_directory_are_not_mirrored(
    source: Path, models_dir: Path
) -> None:
    write_tree(source, {".DS_Store": b"x", "unet/model.onnx.abc.incomplete": b"partial"})

    lock = pull(fixture_variant(source), models_dir)

    assert sorted(f.path for f in lock.files) == sorted(FILES)


def test_a_derived_variant_is_pulled_from_the_directory_given(source: Path, models_dir: Path) -> None:
    variant = load_manifest().variant("sd-turbo-int8")

    lock = pull(variant, models_dir, source_dir=source)

    # vae_encoder is optional in the manifest and absent from the directory.
    assert sorted(f.path for f in lock.files) == sorted(FILES)


def test_a_directory_lacking_a_required_file_is_refused(source: Path, models_dir: Path) -> None:
    (source / "unet/model.onnx").unlink()

    with pytest.raises(SourceUnavailable, match=r"unet/model\.onnx"):
        pull(load_manifest().variant("sd-turbo-int8"), models_dir, source_dir=source)
    assert read_lock(models_dir, "sd-turbo-int8") is None


def test_a_copied_file_that_contradicts_the_manifest_hash_is_refused(source: Path, models_dir: Path) -> None:
    base = load_manifest().variant("sd-turbo-int8")
    files = [ModelFile(path=p, sha256="f" * 64 if p == "unet/model.onnx" else None) for p in FILES]
    variant = base.model_copy(update={"files": files})

    with pytest.raises(IntegrityError, match=r"unet/model\.onnx: sha256 mismatch"):
        pull(variant, models_dir, source_dir=source)
    assert not (models_dir / "sd-turbo-int8" / "unet/model.onnx").exists()
    assert not list((models_dir / "sd-turbo-int8").rglob("*.incomplete"))


def test_a_second_concurrent_pull_of_a_variant_is_refused(source: Path, models_dir: Path) -> None:
    models_dir.mkdir(parents=True)
    with FileLock(pull_lock_path(models_dir, "test-fixture")), pytest.raises(MirrorError, match="is running"):
        pull(fixture_variant(source), models_dir)


def test_verify_passes_an_intact_mirror(source: Path, models_dir: Path) -> None:
    variant = fixture_variant(source)
    pull(variant, models_dir)

    report = verify(variant, models_dir)

    assert report.ok
    assert {c.state for c in report.files} == {"ok"}


def test_verify_detects_a_flipped_byte(source: Path, models_dir: Path) -> None:
    variant = fixture_variant(source)
    pull(variant, models_dir)
    flip_byte(models_dir, "test-fixture", "unet/model.onnx")

    report = verify(variant, models_dir)

    assert not report.ok
    bad = [c for c in report.files if c.state != "ok"]
    assert [(c.path, c.state) for c in bad] == [("unet/model.onnx", "sha256")]
    assert bad[0].expected_sha256 == hashlib.sha256(FILES["unet/model.onnx"]).hexdigest()


def test_verify_reports_truncated_and_missing_files(source: Path, models_dir: Path) -> None:
    variant = fixture_variant(source)
    pull(variant, models_dir)
    (models_dir / "test-fixture" / "tokenizer.json").unlink()
    (models_dir / "test-fixture" / "unet/model.onnx").write_bytes(b"short")

    states = {c.path: c.state for c in verify(variant, models_dir).files}

    assert states["tokenizer.json"] == "missing"
    assert states["unet/model.onnx"] == "size"


def test_verify_of_an_unmirrored_variant_says_to_pull_it(models_dir: Path) -> None:
    with pytest.raises(NotMirrored, match="turbodraft models pull sd-turbo-fp16"):
        verify(load_manifest().variant("sd-turbo-fp16"), models_dir)


def test_flip_byte_refuses_files_outside_a_mirror(source: Path, models_dir: Path) -> None:
    with pytest.raises(FileNotFoundError):
        flip_byte(models_dir, "test-fixture", "unet/model.onnx")
    assert (source / "unet/model.onnx").read_bytes() == FILES["unet/model.onnx"]


def test_remove_deletes_the_files_and_the_lock(source: Path, models_dir: Path) -> None:
    pull(fixture_variant(source), models_dir)

    assert remove(models_dir, "test-fixture") is True

    assert not (models_dir / "test-fixture").exists()
    assert not lock_path(models_dir, "test-fixture").exists()
    assert remove(models_dir, "test-fixture") is False


def test_remove_refuses_an_id_that_is_a_path(models_dir: Path) -> None:
    with pytest.raises(MirrorError, match="not a variant id"):
        remove(models_dir, "../etc")


def test_status_tells_mirrored_fixture_partial_and_absent_apart(source: Path, models_dir: Path) -> None:
    manifest = load_manifest()
    pull(manifest.variant("sd-turbo-int8"), models_dir, source_dir=source)
    (models_dir / "sd-turbo-fp16").mkdir(parents=True)

    states = {row.variant_id: row for row in status(manifest, models_dir)}

    assert states["sd-turbo-int8"].state == "mirrored"
    assert states["sd-turbo-int8"].size == sum(len(c) for c in FILES.values())
    assert states["sd-turbo-fp16"].state == "partial"
    assert states["tiny-sd-turbo"].state == "fixture"


def test_an_unpulled_fixture_is_located_in_the_repository_and_a_pull_takes_over(
    source: Path, models_dir: Path
) -> None:
    variant = fixture_variant(source)
    before = locate(variant, models_dir)
    assert (
        before is not None
        and before.kind == "fixture"
        and before.root == REPO_ROOT / os.path.relpath(source, REPO_ROOT)
    )

    pull(variant, models_dir)

    after = locate(variant, models_dir)
    assert after is not None and after.kind == "mirror" and after.root == models_dir / "test-fixture"
    assert {p: f.sha256 for p, f in after.files.items()} == {p: f.sha256 for p, f in before.files.items()}


def test_status_marks_a_variant_whose_lock_file_is_unreadable_as_damaged(models_dir: Path) -> None:
    models_dir.mkdir(parents=True)
    lock_path(models_dir, "sd-turbo-fp16").write_text("{not json")

    states = {row.variant_id: row.state for row in status(load_manifest(), models_dir)}

    assert states["sd-turbo-fp16"] == "damaged"
    assert states["sd-turbo-int8"] == "absent"


def test_a_damaged_lock_file_is_a_clear_error(models_dir: Path) -> None:
    models_dir.mkdir(parents=True)
    lock_path(models_dir, "sd-turbo-fp16").write_text("{not json")

    with pytest.raises(LockFileError, match="not a valid lock file"):
        read_lock(models_dir, "sd-turbo-fp16")


def test_a_lock_file_naming_a_path_outside_the_mirror_is_rejected(models_dir: Path) -> None:
    models_dir.mkdir(parents=True)
    lock_path(models_dir, "sd-turbo-fp16").write_text(
        '{"variant": "sd-turbo-fp16", "origin": {"kind": "directory", "path": "/x"},'
        ' "files": [{"path": "../../etc/passwd", "size": 1, "sha256": "' + "0" * 64 + '"}]}'
    )

    with pytest.raises(LockFileError, match="not a relative path inside the mirror"):
        read_lock(models_dir, "sd-turbo-fp16")
