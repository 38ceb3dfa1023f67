"""SD-Turbo in Python with numpy + onnxruntime + tokenizers: the twin the browser engine is checked against.

pipe = Pipeline.from_model("tiny-sd-turbo", settings.models_dir)
result = pipe.generate(GenerateRequest(prompt="a fox", seed=1, steps=1, width=64, height=64))
images.write_png(Path("fox.png"), result.image)
"""

from turbodraft.pipeline.errors import (
    BadOutput,
    InvalidInitImage,
    InvalidLatents,
    InvalidPrompt,
    InvalidRequest,
    InvalidSeed,
    InvalidSize,
    InvalidSteps,
    InvalidStrength,
    ModelFilesError,
    ModelRunError,
    PipelineError,
    ProviderUnavailable,
    UnsupportedByModel,
)
from turbodraft.pipeline.pipeline import GenerateResult, Pipeline
from turbodraft.pipeline.request import GenerateRequest, ModelLimits

__all__ = [
    "BadOutput",
    "GenerateRequest",
    "GenerateResult",
    "InvalidInitImage",
    "InvalidLatents",
    "InvalidPrompt",
    "InvalidRequest",
    "InvalidSeed",
    "InvalidSize",
    "InvalidSteps",
    "InvalidStrength",
    "ModelFilesError",
    "ModelLimits",
    "ModelRunError",
    "Pipeline",
    "PipelineError",
    "ProviderUnavailable",
    "UnsupportedByModel",
]
