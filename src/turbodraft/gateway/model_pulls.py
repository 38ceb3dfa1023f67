"""`/v1/models/...`: the web app asks the gateway to fetch a model into its mirror, and follows the progress.

This is `turbodraft models pull` started from the model panel, for a user who runs their own gateway: the
same code (mirror.pull), in a thread of the gateway, one pull per variant at a time (a second request gets the
running pull; another process's pull of the same variant is refused by mirror.pull's file lock).

Who may: the admin setting `allow_model_pulls` (TURBODRAFT_ALLOW_MODEL_PULLS). Unset, it is on when the
gateway binds a loopback address (the user's own machine) and off otherwise, where an admin pulls with the
CLI; when off, every pull request is refused (403 `model-pulls-disabled`, with the command to run) whatever the
caller. The routes are authenticated like the rest of `/v1` (bearer tokens when configured), POSTs count
against the caller's rate limit, and a request a browser marks as coming from another site (Origin or
Sec-Fetch-Site) is refused, so a web page elsewhere cannot make this gateway download gigabytes.

    GET  /v1/models/pulls                   {allowed, reason, pulls: [PullView]}
    GET  /v1/models/{variant}/pull          PullView (state "idle" before any pull here)
    POST /v1/models/{variant}/pull          starts the pull (202), or returns the running one (200)
    POST /v1/models/{variant}/pull/cancel   stops it; the bytes fetched stay, and the next pull resumes them

PullView: {variant, state: idle|running|done|failed|cancelled, phase: downloading|building|verifying|null,
bytesDone, bytesTotal, file, error, startedAt, finishedAt, command}. `bytesTotal` starts from the manifest's
sizes (exact, or the Hub's rounded listing) and becomes exact as each file's transfer begins.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from turbodraft.config import Settings
from turbodraft.gateway import deps
from turbodraft.gateway.binding import is_loopback
from turbodraft.gateway.errors import ApiError
from turbodraft.gateway.security import require_token
from turbodraft.models import mirror
from turbodraft.models.lockfile import LockFileError
from turbodraft.models.manifest import Manifest, ModelVariant, UnknownModel, load_manifest
from turbodraft.models.plan import plan_pull

PullState = Literal["idle", "running", "done", "failed", "cancelled"]
PullPhase = Literal["downloading", "building", "verifying"]
VARIANT_ID_PATTERN = r"^[a-z0-9][a-z0-9.-]{0,63}$"


def pulls_allowed(settings: Settings) -> bool:
    """The admin setting, or by default: on for a loopback bind only."""
    if settings.allow_model_pulls is not None:
        return settings.allow_model_pulls
    return is_loopback(settings.host)


def pull_command(variant_id: str) -> str:
    return f"turbodraft models pull {variant_id}"


# --- wire format ------------------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class PullView(_Wire):
    variant: str
    state: PullState
    phase: PullPhase | None = None
    bytes_done: int = Field(ge=0)
    #: Null where the manifest gives no size for some file and its transfer has not begun.
    bytes_total: int | None = Field(default=None, ge=0)
    #: The file being worked on (a download's label: the variant's path, or repo/path of a build input).
    file: str | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: The CLI command that does the same, for the admin of a gateway that does not allow pulls.
    command: str


class PullsView(_Wire):
    allowed: bool
    #: Why pulls are off, in words (null when allowed).
    reason: str | None
    pulls: list[PullView]


# --- the pulls themselves ---------------------------------------------------------------------------------------


class PullCancelled(Exception):
    """Raised inside the transfer (from its progress callback) when the pull is cancelled."""


@dataclass
class _Transfer:
    total: int | None
    done: int = 0


@dataclass
class PullJob:
    """One pull in a thread; also its progress display (a mirror.Progress), which it turns into byte counts."""

    variant: ModelVariant
    #: Per download label: the expected size (manifest), replaced by the real one when the transfer begins.
    transfers: dict[str, _Transfer]
    state: PullState = "running"
    phase: PullPhase | None = "downloading"
    current: str | None = None
    error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # mirror.Progress ------------------------------------------------------------------------------------------

    def expect(self, label: str, total: int | None, completed: int = 0) -> None:
        with self.lock:
            self.transfers[label] = _Transfer(total, completed)

    def begin(self, label: str, total: int | None, completed: int = 0) -> None:
        self._check_cancelled()
        with self.lock:
            self.current = label
            if label.startswith("build "):
                self.phase = "building"
            elif label.startswith("verify "):
                self.phase = "verifying"
            else:
                self.phase = "downloading"
                known = self.transfers.get(label)
                self.transfers[label] = _Transfer(total if total is not None else (known.total if known else None))
                self.transfers[label].done = completed

    def advance(self, label: str, amount: int) -> None:
        self._check_cancelled()
        with self.lock:
            transfer = self.transfers.get(label)
            if transfer is not None and not label.startswith(("build ", "verify ")):
                transfer.done = max(0, transfer.done + amount)

    def end(self, label: str) -> None:
        # Called after failed transfers too: the byte counts stay what advance() made them.
        pass

    def _check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise PullCancelled(f"the pull of {self.variant.id} was cancelled")

    # ----------------------------------------------------------------------------------------------------------

    def view(self) -> PullView:
        with self.lock:
            totals = [t.total for t in self.transfers.values()]
            total = None if any(t is None for t in totals) else sum(t for t in totals if t is not None)
            done = sum(min(t.done, t.total) if t.total is not None else t.done for t in self.transfers.values())
            if self.state == "done" and total is not None:
                done = total
            return PullView(
                variant=self.variant.id,
                state=self.state,
                phase=self.phase if self.state == "running" else None,
                bytes_done=done,
                bytes_total=total,
                file=self.current if self.state == "running" else None,
                error=self.error,
                started_at=self.started_at,
                finished_at=self.finished_at,
                command=pull_command(self.variant.id),
            )


class ModelPulls:
    """The gateway's pulls, by variant; at most one running per variant."""

    def __init__(self, settings: Settings, manifest: Manifest) -> None:
        self.settings = settings
        self.manifest = manifest
        self._jobs: dict[str, PullJob] = {}
        self._lock = threading.Lock()

    def view(self, variant_id: str) -> PullView:
        job = self._jobs.get(variant_id)
        if job is not None:
            return job.view()
        return PullView(variant=variant_id, state="idle", bytes_done=0, command=pull_command(variant_id))

    def views(self) -> list[PullView]:
        return [job.view() for job in list(self._jobs.values())]

    def start(self, variant: ModelVariant) -> tuple[PullView, bool]:
        """The running pull of this variant, or a new one; True when this call started it."""
        with self._lock:
            running = self._jobs.get(variant.id)
            if running is not None and running.state == "running":
                return running.view(), False
            plan = plan_pull(variant, self.settings.models_dir)
            transfers = {s.label: _Transfer(s.size) for s in plan.steps if s.kind in ("fetch", "copy")}
            job = PullJob(variant=variant, transfers=transfers)
            self._jobs[variant.id] = job
        thread = threading.Thread(target=self._run, args=(job,), name=f"pull-{variant.id}", daemon=True)
        thread.start()
        return job.view(), True

    def cancel(self, variant_id: str) -> PullView:
        job = self._jobs.get(variant_id)
        if job is not None and job.state == "running":
            job.cancel.set()
        return self.view(variant_id)

    def wait(self, variant_id: str, timeout: float) -> PullView:
        """Test helper: block until the variant's pull is no longer running (or `timeout` seconds pass)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = self.view(variant_id)
            if view.state != "running":
                return view
            time.sleep(0.05)
        return self.view(variant_id)

    def _run(self, job: PullJob) -> None:
        state: PullState = "done"
        error: str | None = None
        try:
            mirror.pull(
                job.variant,
                self.settings.models_dir,
                endpoint=self.settings.hf_endpoint,
                progress=job,
                family=self.manifest.families[job.variant.family],
            )
        except PullCancelled as exc:
            state, error = "cancelled", f"{exc}; what was fetched is kept, and pulling again resumes it"
        except (mirror.MirrorError, LockFileError, OSError) as exc:
            state, error = "failed", str(exc)
        except Exception as exc:  # a build can fail in the onnx/onnxruntime libraries in many ways
            state, error = "failed", f"{job.variant.id}: {exc}"
        with job.lock:
            job.state, job.error, job.finished_at = state, error, datetime.now(UTC)


# --- routes -----------------------------------------------------------------------------------------------------


def _pulls(request: Request) -> ModelPulls:
    pulls: ModelPulls = request.app.state.model_pulls
    return pulls


def _variant(pulls: ModelPulls, variant_id: str) -> ModelVariant:
    try:
        return pulls.manifest.variant(variant_id)
    except UnknownModel as exc:
        raise ApiError(404, "unknown-model", str(exc), {"known": [v.id for v in pulls.manifest.variants]}) from exc


def _refuse_other_sites(request: Request) -> None:
    """A browser names the page a request comes from; only this gateway's own pages may start pulls."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise ApiError(403, "cross-site", "model pulls can only be started from this gateway's own pages")
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise ApiError(403, "cross-site", "model pulls can only be started from this gateway's own pages")


def _refuse_unless_allowed(pulls: ModelPulls, variant_id: str) -> None:
    if not pulls_allowed(pulls.settings):
        raise ApiError(
            403,
            "model-pulls-disabled",
            f"this gateway does not fetch models for web pages; its admin can run `{pull_command(variant_id)}`",
            {"command": pull_command(variant_id)},
        )


def _reason(settings: Settings) -> str | None:
    if pulls_allowed(settings):
        return None
    if settings.allow_model_pulls is False:
        return "the gateway's admin turned model pulls off (allow_model_pulls)"
    return f"the gateway listens on {settings.host}, not loopback: only its admin pulls models"


VariantId = Annotated[str, Path(pattern=VARIANT_ID_PATTERN, description="A manifest variant id.")]
PullsDep = Annotated[ModelPulls, Depends(_pulls)]

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(require_token)])


@router.get("/pulls", response_model=PullsView, response_model_by_alias=True)
async def list_pulls(pulls: PullsDep) -> PullsView:
    return PullsView(allowed=pulls_allowed(pulls.settings), reason=_reason(pulls.settings), pulls=pulls.views())


@router.get("/{variant_id}/pull", response_model=PullView, response_model_by_alias=True)
async def get_pull(variant_id: VariantId, pulls: PullsDep) -> PullView:
    _variant(pulls, variant_id)
    return pulls.view(variant_id)


@router.post(
    "/{variant_id}/pull",
    response_model=PullView,
    response_model_by_alias=True,
    status_code=202,
    responses={200: {"model": PullView, "description": "A pull of this variant was already running."}},
)
async def start_pull(
    variant_id: VariantId,
    request: Request,
    response: Response,
    pulls: PullsDep,
    _: Annotated[str, Depends(deps.counted_user)],
) -> PullView:
    _refuse_other_sites(request)
    _refuse_unless_allowed(pulls, variant_id)
    variant = _variant(pulls, variant_id)
    view, started = pulls.start(variant)
    if not started:
        response.status_code = 200
    return view


@router.post("/{variant_id}/pull/cancel", response_model=PullView, response_model_by_alias=True)
async def cancel_pull(
    variant_id: VariantId,
    request: Request,
    pulls: PullsDep,
    _: Annotated[str, Depends(deps.counted_user)],
) -> PullView:
    _refuse_other_sites(request)
    _refuse_unless_allowed(pulls, variant_id)
    _variant(pulls, variant_id)
    return pulls.cancel(variant_id)


def mount_model_pulls(app: FastAPI, settings: Settings, *, manifest: Manifest | None = None) -> None:
    """Add `/v1/models/...` and the pulls' state (`app.state.model_pulls`)."""
    app.state.model_pulls = ModelPulls(settings, manifest or load_manifest())
    app.include_router(router)
