"""Fetching user-given URLs safely (AudioUrl, ImageUrl, VideoUrl, AssetUrl, ...).

http(s) only; every address the host resolves to must be public unless DH_ALLOW_PRIVATE_URLS
(no SSRF into the server's network); the connection goes to the address that was checked (no
DNS rebinding between check and connect); redirects are followed by hand and checked again;
size and time are limited; bytes are streamed so a decoder can start before the download ends.
URLs of this server's own uploads are read from disk.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class FetchError(Exception):
    """The URL cannot be fetched; the message is user-facing (it becomes a FailReason)."""


def _check_address(addr: str, allow_private: bool) -> None:
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    if not allow_private and not ip.is_global:
        raise FetchError(f"address {ip} is private or local (set DH_ALLOW_PRIVATE_URLS to allow)")


class Fetcher:
    """Streams the bytes of a URL under the server's limits."""

    def __init__(
        self,
        allow_private: bool,
        max_bytes: int,
        timeout_s: float,
        local_file: Callable[[str], Path | None] | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.allow_private = allow_private
        # TLS verification (tests pass a context trusting their own CA). One context for every
        # fetch: making one loads the CA bundle, milliseconds of CPU per download otherwise.
        self._ssl: ssl.SSLContext | bool | None = None if verify is True else verify
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._local_file = local_file

    async def _resolve(self, host: str, port: int) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as e:
            raise FetchError(f"cannot resolve {host}: {e}") from None
        addrs = [info[4][0] for info in infos]
        if not addrs:
            raise FetchError(f"cannot resolve {host}")
        for a in addrs:
            _check_address(a, self.allow_private)
        return addrs[0]

    async def check_target(self, url: str, schemes: tuple[str, ...]) -> None:
        """Refuse a push target (Output.WhipUrl, Output.RtmpUrl) under the same address rules as
        downloads: the scheme must be one of `schemes`, the host must resolve to a public
        address unless DH_ALLOW_PRIVATE_URLS."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in schemes or not parts.hostname:
            raise FetchError(f"must be a {' or '.join(schemes)} URL")
        default = {"https": 443, "http": 80, "rtmps": 443, "rtmp": 1935}.get(parts.scheme, 80)
        await self._resolve(parts.hostname, parts.port or default)

    async def stream(self, url: str, max_bytes: int | None = None) -> AsyncIterator[bytes]:
        """Yield the body of `url` in chunks; raises FetchError on any failure."""
        limit = max_bytes or self.max_bytes
        local = self._local_file(url) if self._local_file else None
        if local is not None:
            async for chunk in self._stream_file(local, limit):
                yield chunk
            return
        deadline = time.monotonic() + self.timeout_s
        timeout = httpx.Timeout(min(10.0, self.timeout_s))
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        async with httpx.AsyncClient(timeout=timeout, verify=self._ssl) as client:
            for _ in range(MAX_REDIRECTS + 1):
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise FetchError(f"only http(s) URLs are accepted, not {url[:80]!r}")
                port = parts.port or (443 if parts.scheme == "https" else 80)
                addr = await self._resolve(parts.hostname, port)
                host_addr = f"[{addr}]" if ":" in addr else addr
                target = urlunsplit(
                    (parts.scheme, f"{host_addr}:{port}", parts.path or "/", parts.query, "")
                )
                headers = {"Host": parts.netloc.rsplit("@", 1)[-1]}
                req = client.build_request(
                    "GET", target, headers=headers, extensions={"sni_hostname": parts.hostname}
                )
                try:
                    resp = await client.send(req, stream=True)
                except httpx.HTTPError as e:
                    raise FetchError(f"fetching {url[:80]} failed: {e!r}") from None
                try:
                    if resp.is_redirect:
                        url = urljoin(url, resp.headers.get("location", ""))
                        continue
                    if resp.status_code != 200:
                        raise FetchError(f"fetching {url[:80]} answered HTTP {resp.status_code}")
                    length = resp.headers.get("content-length")
                    if length and length.isdigit() and int(length) > limit:
                        raise FetchError(f"{url[:80]} is larger than {limit} bytes")
                    total = 0
                    # No chunk size: a fixed size would hold bytes back until it is filled.
                    body = resp.aiter_bytes()
                    while True:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise FetchError(
                                f"fetching {url[:80]} took longer than {self.timeout_s} s"
                            )
                        try:
                            chunk = await asyncio.wait_for(anext(body), remaining)
                        except StopAsyncIteration:
                            return
                        except TimeoutError:
                            raise FetchError(
                                f"fetching {url[:80]} took longer than {self.timeout_s} s"
                            ) from None
                        except httpx.HTTPError as e:
                            raise FetchError(f"fetching {url[:80]} failed: {e!r}") from None
                        total += len(chunk)
                        if total > limit:
                            raise FetchError(f"{url[:80]} is larger than {limit} bytes")
                        yield chunk
                finally:
                    await resp.aclose()
            raise FetchError(f"{url[:80]}: more than {MAX_REDIRECTS} redirects")

    async def _stream_file(self, path: Path, limit: int) -> AsyncIterator[bytes]:
        if path.stat().st_size > limit:  # noqa: ASYNC240 - a stat, microseconds
            raise FetchError(f"{path.name} is larger than {limit} bytes")
        with path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk

    async def read(self, url: str, max_bytes: int | None = None) -> bytes:
        return b"".join([c async for c in self.stream(url, max_bytes)])

    async def to_file(self, url: str, path: Path, max_bytes: int | None = None) -> int:
        """Download into `path` (removed again on failure); returns the size."""
        size = 0
        try:
            with path.open("wb") as f:
                async for chunk in self.stream(url, max_bytes):
                    f.write(chunk)
                    size += len(chunk)
        except BaseException:
            path.unlink(missing_ok=True)  # noqa: ASYNC240
            raise
        return size
