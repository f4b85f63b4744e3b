"""Outbound HTTP that cannot be pointed at the service's own network (SSRF).

A tenant-supplied URL is resolved here, every address is checked, and the
connection goes to the checked address itself: checking a name and then letting
the HTTP client resolve it again would let DNS rebinding swap in 127.0.0.1
between the two. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

# Cloud metadata services (instance credentials): refused even where WEBHOOK_ALLOW_PRIVATE
# lets callbacks reach private addresses. IPv4 link-local holds AWS, GCP, Azure, OpenStack,
# DigitalOcean and Oracle's (169.254.169.254) and ECS task metadata (169.254.170.2).
METADATA_NETWORKS = [
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
    ipaddress.ip_network("168.63.129.16/32"),  # Azure's WireServer
    ipaddress.ip_network("192.0.0.192/32"),  # Oracle Cloud Classic
]
_ALLOW_HINT = "callbacks to private addresses need the operator's WEBHOOK_ALLOW_PRIVATE setting"


class BlockedAddress(ValueError):
    """The URL is not http(s), or it resolves to an address the service must not call."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _plain(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """IPv4 written as IPv6 (``::ffff:169.254.169.254``, NAT64's ``64:ff9b::a9fe:a9fe``) is
    checked as the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _metadata(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in METADATA_NETWORKS)


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global and not address.is_multicast


def resolve_allowed(host: str, port: int) -> list[str]:
    """The host's addresses, if every one may be called; raises BlockedAddress otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedAddress(f"cannot resolve {host!r}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise BlockedAddress(f"{host!r} has no address")
    parsed = {a: _plain(ipaddress.ip_address(a.split("%")[0])) for a in addresses}
    metadata = [a for a, ip in parsed.items() if _metadata(ip)]
    if metadata:
        raise BlockedAddress(
            f"{host!r} resolves to a link-local or cloud metadata address ({', '.join(metadata)}), "
            "which is never allowed, not even with WEBHOOK_ALLOW_PRIVATE"
        )
    private = [a for a, ip in parsed.items() if not _public(ip)]
    if private and not settings.WEBHOOK_ALLOW_PRIVATE:
        raise BlockedAddress(f"{host!r} resolves to a non-public address ({', '.join(private)}); {_ALLOW_HINT}")
    return addresses


def check_url(url: str) -> None:
    """Refuse a URL up front (at task creation); delivery checks again at connect time."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a malformed authority or port
        raise BlockedAddress(f"the URL is malformed ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        given = f", not {parts.scheme}:" if parts.scheme else ""
        raise BlockedAddress(f"only http and https URLs are allowed{given}")
    if not parts.hostname:
        raise BlockedAddress("the URL has no host")
    resolve_allowed(parts.hostname, port or (443 if parts.scheme == "https" else 80))


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves and checks the host itself, then connects to the checked address."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last_error: Exception | None = None
        for address in resolve_allowed(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"cannot connect to {host}")


def guarded_client(*, timeout: float) -> httpx.Client:
    """An httpx client for tenant-supplied URLs (TLS still verifies the original host name)."""
    transport = httpx.HTTPTransport(retries=0)
    # httpx has no public hook for the network backend; its transport wraps this pool.
    transport._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), network_backend=_GuardedBackend())
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)
