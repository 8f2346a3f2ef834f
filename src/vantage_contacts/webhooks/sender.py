"""Sending one webhook POST, with aiohttp.

aiohttp rather than httpx here, for a measured reason: with 50 requests in flight, httpx's
connection pool spent most of the worker's CPU (about 130 deliveries/s per worker on this
2-core machine, against the 500/s target); aiohttp's C-accelerated client keeps the worker's
own work (claim, sign, record) the larger share. See bench/RESULTS.md.

The SSRF guard runs at connect time: a host name is resolved by `GuardedResolver`, which
refuses internal addresses, and the connection goes to the address it checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from vantage_contacts.webhooks import urls

EXCERPT_BYTES = 1024


class InternalAddress(OSError):
    """The host resolves to an address webhooks may not reach."""


class GuardedResolver(AbstractResolver):
    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=family
        )
        results: list[ResolveResult] = []
        for info_family, _, proto, _, address in infos:
            ip = str(address[0]).split("%")[0]
            if not self.allow_private and urls.is_internal(ipaddress.ip_address(ip)):
                raise InternalAddress(f"resolves to a private or reserved address ({ip})")
            results.append(
                {
                    "hostname": host,
                    "host": ip,
                    "port": port,
                    "family": info_family,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        return None


@dataclass(slots=True)
class Response:
    status_code: int | None
    latency_ms: int
    error: str | None = None
    excerpt: str | None = None
    retry_after: str | None = None


class Sender:
    """POSTs with keep-alive connections, no redirects followed, a total timeout."""

    def __init__(self, allow_private: bool, concurrency: int, timeout: timedelta) -> None:
        self.allow_private = allow_private
        self.concurrency = concurrency
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the event loop that will use it.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.concurrency,
                resolver=GuardedResolver(self.allow_private),
                use_dns_cache=False,  # every new connection resolves (and is checked) again
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout.total_seconds()),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Response:
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            _check_literal(url, self.allow_private)
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                excerpt = await response.content.read(EXCERPT_BYTES)
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except urls.UnsafeURL as error:
            return Response(None, elapsed(), error=f"refused: the URL {error}")
        except TimeoutError:
            return Response(None, elapsed(), error=f"timed out after {self.timeout.seconds} s")
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, InternalAddress):
                return Response(None, elapsed(), error=f"refused: the URL {error.os_error}")
            return Response(None, elapsed(), error=f"ConnectError: {error.os_error}"[:500])
        except (aiohttp.ClientError, OSError) as error:
            return Response(None, elapsed(), error=f"{type(error).__name__}: {error}"[:500])
        return Response(
            status,
            elapsed(),
            error=None if 200 <= status < 300 else f"HTTP {status}",
            excerpt=excerpt.decode("utf-8", errors="replace"),
            retry_after=retry_after,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _check_literal(url: str, allow_private: bool) -> None:
    """The scheme rules, and addresses written into the URL (which no resolver sees)."""
    _, host, _, _ = urls.parse(url, allow_private)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return  # a host name: GuardedResolver checks what it resolves to
    if not allow_private and urls.is_internal(address):
        raise urls.UnsafeURL(f"points to a private or reserved address ({address})")
