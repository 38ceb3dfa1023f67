"""Prompt tokenization: the same ids as transformers' CLIPTokenizer configured as stabilityai/sd-turbo."""

from __future__ import annotations

import json
from typing import Any

import pytest

from turbodraft.models.manifest import REPO_ROOT, load_manifest
from turbodraft.pipeline.errors import InvalidPrompt
from turbodraft.pipeline.tokenizer import PromptTokenizer, frame_ids

CASES: list[dict[str, Any]] = json.loads((REPO_ROOT / "fixtures/tokenizer/cases.json").read_text())["cases"]
CONSTANTS = load_manifest().families["sd-turbo"].tokenizer


@pytest.fixture(scope="module")
def tokenizer() -> PromptTokenizer:
    return PromptTokenizer.from_file(REPO_ROOT / "fixtures/tiny-sd-turbo/tokenizer.json", CONSTANTS)


@pytest.mark.parametrize("case", CASES, ids=[repr(c["prompt"])[:40] for c in CASES])
def test_ids_equal_the_reference_tokenizer(tokenizer: PromptTokenizer, case: dict[str, Any]) -> None:
    tokens = tokenizer(case["prompt"])
    assert tokens.input_ids.tolist() == [case["ids"]]
    assert tokens.truncated == case["truncated"]


def test_input_ids_are_int32_of_length_77(tokenizer: PromptTokenizer) -> None:
    ids = tokenizer("a fox").input_ids
    assert ids.dtype.name == "int32"
    assert ids.shape == (1, 77)


def test_pads_with_id_0_not_with_eos(tokenizer: PromptTokenizer) -> None:
    ids = tokenizer("a fox").input_ids[0].tolist()
    eos = ids.index(49407)
    assert ids[0] == 49406
    assert ids[eos + 1 :] == [0] * (76 - eos)


def test_empty_prompt_is_bos_eos_and_padding(tokenizer: PromptTokenizer) -> None:
    tokens = tokenizer("")
    assert tokens.input_ids[0].tolist() == [49406, 49407] + [0] * 75
    assert tokens.prompt_tokens == 0 and not tokens.truncated


def test_long_prompt_keeps_the_first_75_tokens_and_eos_last(tokenizer: PromptTokenizer) -> None:
    tokens = tokenizer("cat " * 80)
    ids = tokens.input_ids[0].tolist()
    assert tokens.truncated and tokens.prompt_tokens == 80
    assert ids[76] == 49407 and 0 not in ids


def test_exactly_75_prompt_tokens_fit_without_truncation() -> None:
    ids, truncated = frame_ids(list(range(1000, 1075)), CONSTANTS)
    assert not truncated
    assert ids == [49406, *range(1000, 1075), 49407]


def test_rejects_a_prompt_that_is_not_text(tokenizer: PromptTokenizer) -> None:
    with pytest.raises(InvalidPrompt, match="prompt must be a string"):
        tokenizer(b"bytes")  # type: ignore[arg-type]
