"""Capability handles: a job reference that works without naming its user, for the orchestrator API.

The canvas app's old client reads `GET /job/{job_id}` and shows `result` (an image URL) without sending the user
it created the job for. So the legacy API hands out `<job id>.<signature>` instead of the bare id: whoever holds
it may read that job and its image, as with an unguessable URL. A bare id still works only for the job's owner.

The key is `signing_key` when set (share it between gateways on one database), else a random key created once
in the data dir (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from turbodraft.config import Settings

KEY_FILE = "signing.key"
_SIGNATURE_CHARS = 22  # 132 bits of the HMAC, base64url


def _load_or_create_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()  # another process made it first
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


class Signer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a signing key needs at least 16 bytes")
        self._key = key

    @classmethod
    def for_settings(cls, settings: Settings) -> Signer:
        if settings.signing_key is not None:
            return cls(settings.signing_key.get_secret_value().encode())
        return cls(_load_or_create_key(settings.data_dir / KEY_FILE))

    def _signature(self, job_id: str) -> str:
        digest = hmac.new(self._key, f"job:{job_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]

    def handle(self, job_id: str) -> str:
        return f"{job_id}.{self._signature(job_id)}"

    def open(self, reference: str) -> str | None:
        """The job id a valid handle names; None for a bare id or a forged handle."""
        job_id, dot, signature = reference.rpartition(".")
        if not dot or not job_id:
            return None
        return job_id if hmac.compare_digest(signature, self._signature(job_id)) else None
