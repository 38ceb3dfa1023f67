"""CLIP tokenization as SD-Turbo's pipeline does it: BOS, at most max_length-2 prompt tokens, EOS, padding.

Padding and truncation are done here rather than by tokenizer.json's own settings, because public tokenizer
files disagree on the pad token (SD-2.x pads with `!`, id 0; transformers' CLIP default is 49407) and the
browser engine must get the same ids from the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from turbodraft.models.manifest import TokenizerConstants
from turbodraft.pipeline.errors import InvalidPrompt, ModelFilesError


@dataclass(frozen=True)
class TokenizedPrompt:
    #: int32 [1, max_length], the text encoder's `input_ids`.
    input_ids: npt.NDArray[np.int32]
    #: Prompt tokens before truncation (BOS/EOS not counted).
    prompt_tokens: int
    #: True when prompt tokens were dropped to fit max_length.
    truncated: bool


def frame_ids(prompt_ids: list[int], constants: TokenizerConstants) -> tuple[list[int], bool]:
    """BOS + prompt ids (truncated so EOS lands at the last position) + EOS + pad ids."""
    room = constants.max_length - 2
    truncated = len(prompt_ids) > room
    body = prompt_ids[:room]
    ids = [constants.bos_token_id, *body, constants.eos_token_id]
    ids += [constants.pad_token_id] * (constants.max_length - len(ids))
    return ids, truncated


class PromptTokenizer:
    def __init__(self, tokenizer: Tokenizer, constants: TokenizerConstants) -> None:
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self.constants = constants

    @classmethod
    def from_file(cls, path: Path, constants: TokenizerConstants) -> PromptTokenizer:
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
            raise ModelFilesError(f"cannot read tokenizer {path}: {exc}") from exc
        return cls(tokenizer, constants)

    def __call__(self, prompt: str) -> TokenizedPrompt:
        if not isinstance(prompt, str):
            raise InvalidPrompt(f"prompt must be a string, got {type(prompt).__name__}")
        prompt_ids = self._tokenizer.encode(prompt, add_special_tokens=False).ids
        ids, truncated = frame_ids(prompt_ids, self.constants)
        return TokenizedPrompt(
            input_ids=np.asarray([ids], dtype=np.int32), prompt_tokens=len(prompt_ids), truncated=truncated
        )
