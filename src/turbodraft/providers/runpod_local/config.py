"""Settings of the local RunPod-compatible server; the defaults are RunPod's, tests shorten the clocks."""

from __future__ import annotations

from dataclasses import dataclass

from turbodraft.providers.runpod_types import DEFAULT_EXECUTION_TIMEOUT_MS, DEFAULT_TTL_MS


@dataclass(frozen=True)
class LocalRunPodConfig:
    #: Accepted as ``Authorization: Bearer <key>`` or the bare key; None disables auth.
    api_key: str | None = None
    #: Concurrent jobs (worker count); handlers run in a thread pool of this size.
    workers: int = 1
    #: Added to the delayTime of the first job a worker takes, and again after it idles ``idle_timeout_s``.
    cold_start_s: float = 0.0
    idle_timeout_s: float = 5.0
    #: How long a finished job's result stays readable: 30 min after /run, about 1 min after /runsync.
    result_retention_s: float = 1800.0
    runsync_retention_s: float = 60.0
    default_execution_timeout_ms: int = DEFAULT_EXECUTION_TIMEOUT_MS
    #: RunPod rejects an executionTimeout under 5 s; tests lower this to use sub-second timeouts.
    min_execution_timeout_ms: int = 5000
    default_ttl_ms: int = DEFAULT_TTL_MS
    runsync_default_wait_ms: int = 90_000
    max_run_bytes: int = 10 * 1024 * 1024
    max_runsync_bytes: int = 20 * 1024 * 1024
    #: Serve POST/DELETE /_local/faults (behind the same key as /v2/). Off unless asked for: on the gateway's
    #: embedded server it would let anything that reaches the port make every final fail.
    fault_injection: bool = False
    #: Keep every job's input for tests to audit (Bookkeeping.job_inputs); off, inputs (img2img images
    #: included) are dropped as soon as a job is done with them, so memory does not grow with each job.
    keep_inputs: bool = False
    #: How many billing records the bookkeeping keeps (the newest).
    max_billing_records: int = 10_000
    #: How often expired results and TTLs are swept (they are also checked on every read).
    sweep_interval_s: float = 0.5

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.cold_start_s < 0 or self.idle_timeout_s < 0:
            raise ValueError("cold_start_s and idle_timeout_s must not be negative")
