"""The SSRF guard: webhook URLs must resolve only to public addresses.

Checked when an endpoint is created or changed, and again (DNS re-resolved) before every
delivery, which then connects to the very address that was checked, so a name that changes
its answer between check and connect cannot reach the inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL may not be called: not https, unresolvable, or an address on the inside."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect for a URL: the checked address, and the host for Host and SNI."""

    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def connect_url(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def is_internal(address: IPAddress) -> bool:
    """Loopback, private, link-local (cloud metadata), multicast, reserved, unspecified…"""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_internal(address.ipv4_mapped)
        if address in _NAT64:
            return is_internal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_link_local
    )


def parse(url: str, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of a URL we are willing to call."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UnsafeURL(f"not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeURL("must be an absolute https:// URL")
    if scheme != "https" and not allow_private:
        raise UnsafeURL("must use https")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("must not carry credentials")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


async def resolve(url: str, allow_private: bool) -> Target:
    """Resolve the URL's host now; refuse it if any address it resolves to is internal."""
    scheme, host, port, path = parse(url, allow_private)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(f"host '{host}' cannot be resolved") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise UnsafeURL(f"host '{host}' cannot be resolved")
    if not allow_private:
        internal = [a for a in addresses if is_internal(a)]
        if internal:
            raise UnsafeURL(f"resolves to a private or reserved address ({internal[0]})")
    return Target(scheme, host, port, str(addresses[0]), path)
