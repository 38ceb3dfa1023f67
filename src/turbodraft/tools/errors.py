"""Typed failures of the canvas tools. `InvalidToolInput` is the caller's fault (a bad image or option); the
rest are the model's or the machine's. The browser engine raises the same cases as `EngineError` codes
(web/src/engine/tools/errors.ts) with the same wording."""

from __future__ import annotations


class ToolError(Exception):
    """Base of everything the tools raise on purpose."""


class InvalidToolInput(ToolError, ValueError):
    """The image or an option cannot be processed as given; the message says what to change."""


class InvalidImage(InvalidToolInput):
    pass


class ImageTooLarge(InvalidToolInput):
    pass


class InvalidOption(InvalidToolInput):
    pass


class ModelNotDownloaded(ToolError):
    """The tool's model files are not on this machine; the message names the pull command."""

    def __init__(self, model_id: str, detail: str) -> None:
        super().__init__(f"model {model_id} is not downloaded ({detail}); run `turbodraft models pull {model_id}`")
        self.model_id = model_id


class ToolModelError(ToolError):
    """The graph does not have the interface the manifest describes, or cannot be loaded."""


class BadToolOutput(ToolError):
    """NaN, Inf, a constant map or a wrongly shaped output: never returned as an image."""
