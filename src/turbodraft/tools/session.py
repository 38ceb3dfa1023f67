"""One tool model's onnxruntime session: its files found, its interface checked against the manifest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from turbodraft.models.manifest import ToolModel, load_manifest, local_model_dir
from turbodraft.pipeline.sessions import resolve_providers
from turbodraft.tools.errors import BadToolOutput, ModelNotDownloaded, ToolModelError

F32 = npt.NDArray[np.float32]


class ToolSession:
    """Runs the graph on NCHW float32; sessions are made once per ToolSession."""

    def __init__(
        self,
        model: ToolModel,
        root: Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        self.model = model
        path = root / model.graph
        if not path.is_file():
            raise ModelNotDownloaded(model.id, f"{path} is missing")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=resolve_providers(providers))
        except Exception as exc:  # onnxruntime's own exception types are not exported
            raise ToolModelError(f"cannot load {path}: {exc}") from exc
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        self.input = _pick(model.io.input, inputs, f"{model.id}: graph input")
        self.output = _pick(model.io.output, outputs, f"{model.id}: graph output")
        self.provider = self.session.get_providers()[0]

    @classmethod
    def for_model(
        cls,
        model_id: str,
        models_dir: Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> ToolSession:
        """A manifest tool model from the data dir's mirror (or, for fixtures, the repository)."""
        model = load_manifest().tool(model_id)
        return cls(model, local_model_dir(model, models_dir), providers=providers, threads=threads)

    def run(self, nchw: F32) -> F32:
        """The graph on [1, 3, H, W] (already scaled to the model's input range); its first output's batch 0."""
        try:
            out = self.session.run([self.output], {self.input: np.ascontiguousarray(nchw, np.float32)})[0]
        except Exception as exc:
            raise ToolModelError(f"{self.model.id} failed on a {list(nchw.shape)} input: {exc}") from exc
        result: F32 = np.asarray(out, np.float32)
        if result.ndim != 4 or result.shape[0] != 1:
            raise BadToolOutput(f"{self.model.id} returned shape {list(result.shape)}, expected [1, C, H, W]")
        if not np.isfinite(result).all():
            raise BadToolOutput(f"{self.model.id} returned NaN or Inf")
        batch: F32 = result[0]
        return batch


def _pick(wanted: str | None, names: list[str], what: str) -> str:
    if not names:
        raise ToolModelError(f"{what}: the graph has none")
    if wanted is None:
        return names[0]
    if wanted not in names:
        raise ToolModelError(f"{what} {wanted!r} is not in the graph (it has {', '.join(names)})")
    return wanted
