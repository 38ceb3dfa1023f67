"""The canvas tools' Python twin (numpy + onnxruntime): upscale, background removal, style transfer.

The browser engine (web/src/engine/tools) runs the same models with the same pre- and post-processing; both are
checked against PyTorch references in fixtures/tools (docs/tools.md).

    from turbodraft.tools import ToolSession, upscale
    session = ToolSession.for_model("tiny-realesr-general-x4v3", settings.models_dir)
    rgba = upscale(session, np.asarray(Image.open("in.png").convert("RGBA")))   # float [4H, 4W, 4]
"""

from turbodraft.tools.errors import (
    BadToolOutput,
    ImageTooLarge,
    InvalidImage,
    InvalidOption,
    InvalidToolInput,
    ModelNotDownloaded,
    ToolError,
    ToolModelError,
)
from turbodraft.tools.matte import remove_background
from turbodraft.tools.session import ToolSession
from turbodraft.tools.style import blend, stylize
from turbodraft.tools.upscale import upscale

__all__ = [
    "BadToolOutput",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidOption",
    "InvalidToolInput",
    "ModelNotDownloaded",
    "ToolError",
    "ToolModelError",
    "ToolSession",
    "blend",
    "remove_background",
    "stylize",
    "upscale",
]
