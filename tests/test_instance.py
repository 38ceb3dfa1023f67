"""Whether the gateway that owns a running job is alive: its process on this host, else its lease."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from turbodraft.gateway.instance import Instance, pid_alive


def test_an_owner_on_this_host_whose_process_is_gone_is_dead() -> None:
    me = Instance.create()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    later = datetime.now(UTC) + timedelta(hours=1)
    gone = f"{me.host}-{child.pid}-deadbeef"
    assert not pid_alive(child.pid)
    assert not me.owner_alive(gone, later, datetime.now(UTC))  # however long its lease


def test_an_owner_on_this_host_that_runs_is_alive_while_its_lease_holds() -> None:
    me = Instance.create()
    parent = f"{me.host}-{os.getppid()}-cafe0001"
    now = datetime.now(UTC)
    assert me.owner_alive(parent, now + timedelta(seconds=30), now)
    assert not me.owner_alive(parent, now - timedelta(seconds=1), now)


def test_an_earlier_life_of_this_process_id_is_dead() -> None:
    me = Instance.create()
    now = datetime.now(UTC)
    assert not me.owner_alive(f"{me.host}-{me.pid}-00000000", now + timedelta(hours=1), now)
    assert me.owner_alive(me.id, None, now)


def test_an_owner_on_another_host_is_judged_by_its_lease_alone() -> None:
    me = Instance.create()
    now = datetime.now(UTC)
    other = "0123456789ab-1-00000000"
    assert me.owner_alive(other, now + timedelta(seconds=5), now)
    assert not me.owner_alive(other, now - timedelta(seconds=5), now)
    assert not me.owner_alive(None, now + timedelta(seconds=5), now)


def test_a_zombie_process_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert datetime.now(UTC) < deadline
    try:
        assert not pid_alive(child.pid)  # exited, not yet reaped
    finally:
        child.wait()
