"""Which addresses the gateway may bind: loopback always, anything else only behind API tokens."""

from __future__ import annotations

import ipaddress

from turbodraft.config import Settings


class UnsafeBindError(RuntimeError):
    """Binding a reachable address without authentication would expose the RunPod key's budget to the network."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname other than localhost may resolve anywhere


def check_bind_allowed(host: str, settings: Settings) -> None:
    if is_loopback(host) or settings.api_tokens:
        return
    raise UnsafeBindError(
        f"refusing to bind {host}: it is not a loopback address and no API token is configured. "
        "Set TURBODRAFT_API_TOKENS='[\"<token>\"]' (or api_tokens in turbodraft.toml), or bind 127.0.0.1."
    )
