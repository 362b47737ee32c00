"""Safe URL fetching: only http(s), private and loopback addresses refused unless allowed,
redirects checked hop by hop, size and time limits, and bytes streamed as they arrive."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from api.fetch import Fetcher, FetchError, _check_address


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/ok":
            self._send(200, b"hello")
        elif self.path == "/big":
            self._send(200, b"x" * 300_000)
        elif self.path == "/nolength":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b"y" * 10_000)
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"first")
            self.wfile.flush()
            time.sleep(1.5)
            self.wfile.write(b"-last")
        elif self.path == "/hang":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"a")
            self.wfile.flush()
            time.sleep(4)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"no")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def allowed(**kw: object) -> Fetcher:
    args = {"allow_private": True, "max_bytes": 100_000, "timeout_s": 3.0, **kw}
    return Fetcher(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "0.0.0.0",
        "fc00::1",
        "::ffff:127.0.0.1",
    ],
)
def test_private_addresses_refused(addr: str) -> None:
    with pytest.raises(FetchError, match="private"):
        _check_address(addr, allow_private=False)
    _check_address(addr, allow_private=True)


def test_public_address_accepted() -> None:
    _check_address("93.184.216.34", allow_private=False)
    _check_address("2606:2800:220:1:248:1893:25c8:1946", allow_private=False)


async def test_loopback_refused_by_default(base: str) -> None:
    f = Fetcher(allow_private=False, max_bytes=1000, timeout_s=3)
    for url in (f"{base}/ok", base.replace("127.0.0.1", "localhost") + "/ok"):
        with pytest.raises(FetchError, match="private"):
            await f.read(url)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a", "gopher://x", "http:///nohost"]
)
async def test_only_http(url: str) -> None:
    with pytest.raises(FetchError, match="http"):
        await allowed().read(url)


async def test_fetch_redirect_and_errors(base: str) -> None:
    f = allowed()
    assert await f.read(f"{base}/ok") == b"hello"
    assert await f.read(f"{base}/redirect") == b"hello"
    with pytest.raises(FetchError, match="redirects"):
        await f.read(f"{base}/loop")
    with pytest.raises(FetchError, match="404"):
        await f.read(f"{base}/missing")
    with pytest.raises(FetchError):
        await f.read("http://127.0.0.1:9/refused")


async def test_size_limit(base: str) -> None:
    with pytest.raises(FetchError, match="larger"):
        await allowed().read(f"{base}/big")  # announced by Content-Length
    with pytest.raises(FetchError, match="larger"):
        await allowed().read(f"{base}/nolength")  # counted while streaming
    assert len(await allowed(max_bytes=400_000).read(f"{base}/nolength")) == 300_000


async def test_time_limit(base: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="longer"):
        await allowed(timeout_s=1.0).read(f"{base}/hang")
    assert time.monotonic() - t0 < 2.5


async def test_streamed_before_the_end(base: str) -> None:
    t0 = time.monotonic()
    arrivals = []
    async for chunk in allowed().stream(f"{base}/slow"):
        arrivals.append((time.monotonic() - t0, chunk))
    assert b"".join(c for _, c in arrivals) == b"first-last"
    assert arrivals[0][1] == b"first" and arrivals[0][0] < 1.0  # before the rest was sent
    assert arrivals[-1][0] >= 1.4


async def test_https_checked_by_name_while_connecting_to_the_checked_address(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The connection goes to the resolved address, yet TLS verifies the URL's host name
    (a certificate for "localhost" only, no IP in it)."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "c.pem", tmp_path / "k.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certfile, keyfile)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        trust = ssl.create_default_context(cafile=str(certfile))
        f = allowed(verify=trust)
        assert await f.read(f"https://localhost:{port}/ok") == b"hello"
        # By address, the name check fails: the certificate does not name 127.0.0.1.
        with pytest.raises(FetchError):
            await f.read(f"https://127.0.0.1:{port}/ok")
    finally:
        httpd.shutdown()
        httpd.server_close()
