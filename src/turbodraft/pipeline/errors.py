"""Typed failures of the pipeline. `InvalidRequest` is the caller's fault (HTTP 400, CLI exit 2); the rest are
the model's or the machine's."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of everything the pipeline raises on purpose."""


class InvalidRequest(PipelineError, ValueError):
    """The request cannot be generated as asked; the message says what to change."""


class InvalidPrompt(InvalidRequest):
    pass


class InvalidSize(InvalidRequest):
    pass


class InvalidSteps(InvalidRequest):
    pass


class InvalidStrength(InvalidRequest):
    pass


class InvalidSeed(InvalidRequest):
    pass


class InvalidInitImage(InvalidRequest):
    pass


class InvalidLatents(InvalidRequest):
    pass


class UnsupportedByModel(InvalidRequest):
    """The model lacks what the request needs (e.g. img2img without a VAE encoder)."""


class ModelFilesError(PipelineError):
    """A model directory is missing files or they are not the graphs we expect."""


class ProviderUnavailable(PipelineError, ValueError):
    """An onnxruntime execution provider was asked for but is not installed here."""


class BadOutput(PipelineError, RuntimeError):
    """A stage produced NaN, Inf or all zeros: refuse to turn it into a (black) image."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage} produced {reason}")
        self.stage = stage
        self.reason = reason


class ModelRunError(PipelineError, RuntimeError):
    """onnxruntime rejected or failed a graph run (wrong shapes, a broken graph)."""
