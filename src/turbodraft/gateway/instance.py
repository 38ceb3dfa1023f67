"""Which gateway process owns a running job, and whether that owner is still alive.

Each gateway process has an instance id, `<host key>-<pid>-<random>`, written on the ledger rows of the jobs it
runs together with a lease it renews while they run. Another gateway (or the same one after a restart) treats a
row's owner as dead when the lease has lapsed, or, on the same host, as soon as the owner's process is gone, so a
restart after a crash (kill -9, OOM) releases the crashed process's reservations at once instead of after a lease.

The host key identifies "the same process table": hostname, kernel boot and PID namespace, so two containers that
share a hostname never judge each other's PIDs.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def host_key() -> str:
    parts = (socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), _pid_namespace())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def pid_alive(pid: int) -> bool:
    """True while a process with this PID exists and is not a zombie (killed but not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    stat = _read(f"/proc/{pid}/stat")
    # The state letter follows the command name, which is in parentheses and may itself hold spaces.
    return not (stat and stat.rpartition(")")[2].split()[:1] == ["Z"])


@dataclass(frozen=True)
class Instance:
    id: str
    host: str
    pid: int

    @classmethod
    def create(cls) -> Instance:
        host, pid = host_key(), os.getpid()
        return cls(id=f"{host}-{pid}-{secrets.token_hex(4)}", host=host, pid=pid)

    def owner_alive(self, owner_id: str | None, lease_expires_at: datetime | None, now: datetime) -> bool:
        """Whether the gateway named `owner_id` may still be running its job (then it must be left alone)."""
        if owner_id is None:
            return False
        if owner_id == self.id:
            return True
        host, _, rest = owner_id.partition("-")
        pid_text = rest.partition("-")[0]
        if host == self.host and pid_text.isdigit():
            pid = int(pid_text)
            # Our own PID under another instance id is an earlier life of this process slot (a restarted
            # container often gets the same PID): that owner is gone.
            if pid == self.pid or not pid_alive(pid):
                return False
        return lease_expires_at is not None and lease_expires_at > now
