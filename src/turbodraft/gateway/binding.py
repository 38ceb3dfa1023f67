"""Which addresses the gateway may bind, and which host names it answers.

Loopback always; any other address only behind API tokens (so the RunPod key's budget is not open to the network)
and with the host names it is reached by listed (TURBODRAFT_ALLOWED_HOSTS), because a page on any site can make a
browser send requests to a reachable address under its own name (DNS rebinding) and read the answers.
"""

from __future__ import annotations

import ipaddress

from turbodraft.config import Settings

#: Always answered: a page cannot make a browser send these names for its own origin.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class UnsafeBindError(RuntimeError):
    """Binding a reachable address without authentication would expose the RunPod key's budget to the network."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname other than localhost may resolve anywhere


def _as_host_header(host: str) -> str:
    """How a bind address appears in a Host header: IPv6 literals in brackets."""
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            return f"[{host.strip('[]')}]"
    except ValueError:
        pass
    return host.lower()


def allowed_host_names(settings: Settings) -> list[str]:
    names = [*LOOPBACK_NAMES, *settings.allowed_hosts]
    if is_loopback(settings.host):
        names.append(_as_host_header(settings.host))  # 127.0.0.2 and friends
    return list(dict.fromkeys(names))


def check_bind_allowed(host: str, settings: Settings) -> None:
    if is_loopback(host):
        return
    if not settings.api_tokens:
        raise UnsafeBindError(
            f"refusing to bind {host}: it is not a loopback address and no API token is configured. "
            "Set TURBODRAFT_API_TOKENS='[\"<token>\"]' (or api_tokens in turbodraft.toml), or bind 127.0.0.1."
        )
    if not settings.allowed_hosts:
        raise UnsafeBindError(
            f"refusing to bind {host}: list the host names clients use to reach the gateway in "
            "TURBODRAFT_ALLOWED_HOSTS (e.g. TURBODRAFT_ALLOWED_HOSTS=draft.example.com,10.0.0.5), "
            "so DNS-rebinding pages are refused; '*' turns the check off (behind a proxy that checks Host)."
        )
