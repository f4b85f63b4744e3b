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

# Cloud metadata services answer on these; they are link-local or private anyway,
# but named so the intent is plain.
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class BlockedAddress(ValueError):
    """The URL is not http(s), or it resolves to an address the service must not call."""


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast and address not in METADATA_ADDRESSES


def resolve_allowed(host: str, port: int) -> list[str]:
    """The host's addresses, if every one may be called; raises BlockedAddress otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedAddress(f"cannot resolve {host!r}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    blocked = [a for a in addresses if not _allowed(ipaddress.ip_address(a.split("%")[0]))]
    if blocked or not addresses:
        raise BlockedAddress(f"{host!r} resolves to a non-public address ({', '.join(blocked) or 'none'})")
    return addresses


def check_url(url: str) -> None:
    """Refuse a URL up front (at task creation); delivery checks again at connect time."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddress("only http and https URLs are allowed")
    resolve_allowed(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


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
