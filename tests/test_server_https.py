"""HTTPS served directly (DH_TLS_CERTFILE / DH_TLS_KEYFILE), called the way ZEGO's sample
servers call: `https://{host}/?{query}` with AppId as a string, a 16-hex-digit nonce,
SignatureVersion=2.0, a JSON body, and the reply's HTTP status passed through."""

from __future__ import annotations

import datetime
import hashlib
import http.client
import ipaddress
import json
import secrets
import ssl
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import TEST_APP_ID, TEST_SECRET, ServerProcess


def self_signed(folder: Path) -> tuple[Path, Path]:
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
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def zego_style_call(host: str, action: str, body: dict, ctx: ssl.SSLContext) -> tuple[int, dict]:
    """What ZEGO's sample server does: build the query, sign, POST JSON, pass the status through."""
    app_id = str(TEST_APP_ID)
    nonce = secrets.token_hex(8)
    timestamp = str(int(time.time()))
    signature = hashlib.md5((app_id + nonce + TEST_SECRET + timestamp).encode()).hexdigest()
    query = urlencode(
        {
            "Action": action,
            "AppId": app_id,
            "SignatureNonce": nonce,
            "Timestamp": timestamp,
            "Signature": signature,
            "SignatureVersion": "2.0",
        }
    )
    req = urllib.request.Request(
        f"https://{host}/?{query}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.slow
def test_https_like_zego_samples(tmp_path) -> None:  # type: ignore[no-untyped-def]
    certfile, keyfile = self_signed(tmp_path)
    env = {"DH_TLS_CERTFILE": str(certfile), "DH_TLS_KEYFILE": str(keyfile)}
    with ServerProcess(tmp_path / "data", env=env, scheme="https") as srv:
        ctx = ssl.create_default_context(cafile=str(certfile))  # verified, not verify=False
        host = f"127.0.0.1:{srv.port}"
        status, reply = zego_style_call(
            host, "GetDigitalHumanList", {"Offset": 0, "Limit": 10}, ctx
        )
        assert status == 200 and reply["Code"] == 0, reply
        dh = reply["Data"]["DigitalHumans"][0]
        assert dh["IsPublic"] and dh["AvatarUrl"].startswith("https://")
        status, reply = zego_style_call(
            host, "GetDigitalHumanInfo", {"DigitalHumanId": "nope"}, ctx
        )
        assert status == 200 and reply["Code"] == 400000003
        # The preview URL the API returned is served over the same TLS.
        with urllib.request.urlopen(
            dh["AvatarUrl"].replace("localhost", "127.0.0.1"), context=ctx
        ) as r:
            assert r.status == 200 and r.read(8) == b"\x89PNG\r\n\x1a\n"
        # Plain HTTP is not answered on the TLS port.
        with pytest.raises((OSError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://{host}/?Action=GetDigitalHumanList", timeout=5)
