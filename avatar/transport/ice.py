"""ICE settings for every peer connection of this process: which host addresses are offered,
and no STUN/TURN servers unless configured.

aiortc gathers host candidates through `aioice.ice.get_host_addresses`, which leaves 127.0.0.1
out and would offer every interface address. `DH_ICE_HOST_ADDRESSES` (comma-separated) replaces
that list, so tests and benchmarks keep media on loopback and a server can pin its public
addresses. aiortc's default STUN server (Google's) is never used: peers get an explicit,
usually empty, server list.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

log = logging.getLogger(__name__)

ENV_HOST_ADDRESSES = "DH_ICE_HOST_ADDRESSES"
ENV_ICE_SERVERS = "DH_ICE_SERVERS"  # comma-separated stun:/turn: URLs, empty by default

_original_get_host_addresses = aioice.ice.get_host_addresses
_host_addresses: list[str] | None = None


def parse_addresses(value: str | None) -> list[str] | None:
    """'127.0.0.1, ::1' -> ['127.0.0.1', '::1']; None or '' -> None (aioice's default)."""
    if not value or not value.strip():
        return None
    out = []
    for part in value.split(","):
        part = part.strip()
        if part:
            out.append(str(ipaddress.ip_address(part)))  # raises on a typo, at startup
    return out or None


def _restricted_get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _host_addresses is None:
        return _original_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    out = []
    for a in _host_addresses:
        v6 = ipaddress.ip_address(a).version == 6
        if (v6 and use_ipv6) or (not v6 and use_ipv4):
            out.append(a)
    return out


def configure_ice(host_addresses: str | list[str] | None = None) -> list[str] | None:
    """Restrict ICE host candidates for this process. Without an argument, reads
    DH_ICE_HOST_ADDRESSES. Returns the addresses in force (None = every interface)."""
    global _host_addresses
    if host_addresses is None:
        host_addresses = os.environ.get(ENV_HOST_ADDRESSES)
    if host_addresses is None:
        _host_addresses = None  # every interface, as aioice does by default
    elif isinstance(host_addresses, str):
        _host_addresses = parse_addresses(host_addresses)
    else:
        _host_addresses = [str(ipaddress.ip_address(a)) for a in host_addresses] or None
    # aioice looks the function up in its module at gathering time, so replacing it there is
    # enough; it is idempotent.
    aioice.ice.get_host_addresses = _restricted_get_host_addresses
    return _host_addresses


def ice_servers_from_env() -> list[RTCIceServer]:
    """DH_ICE_SERVERS: comma-separated stun:/turn: URLs (none by default); TURN credentials
    from DH_TURN_USERNAME / DH_TURN_PASSWORD."""
    value = os.environ.get(ENV_ICE_SERVERS, "")
    user = os.environ.get("DH_TURN_USERNAME") or None
    password = os.environ.get("DH_TURN_PASSWORD") or None
    servers = []
    for url in (u.strip() for u in value.split(",")):
        if url:
            turn = url.startswith(("turn:", "turns:"))
            servers.append(
                RTCIceServer(
                    url, username=user if turn else None, credential=password if turn else None
                )
            )
    return servers


def rtc_configuration(ice_servers: list[RTCIceServer] | None = None) -> RTCConfiguration:
    """A peer configuration with the configured ICE servers (DH_ICE_SERVERS, none by default):
    never aiortc's default public STUN server."""
    return RTCConfiguration(
        iceServers=ice_servers if ice_servers is not None else ice_servers_from_env()
    )


_CANDIDATE_RE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) ", re.IGNORECASE)


def strip_mdns_candidates(sdp: str) -> str:
    """Drop remote `*.local` candidates: resolving them would send multicast DNS; the peer is
    still reached through its other candidates or as a peer-reflexive one from its checks."""
    lines = sdp.splitlines()
    kept = []
    for line in lines:
        m = _CANDIDATE_RE.match(line)
        if m and m.group(1).lower().endswith(".local"):
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"
