"""The object store's own certificate authority: one CA and one certificate that SeaweedFS's parts present to
each other, so every internal port (master, volume, filer: HTTP and gRPC) accepts only a peer holding it.

Made once per stack in ``<data dir>/seaweedfs/tls`` (keys mode 0600, readable by the store's user only); only
the S3 gateway, which checks the stack's S3 keys, is reachable without it.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from depthpipe.team import account

VALID_DAYS = 3650


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def ensure(folder: Path) -> Tls:
    """The CA and the parts' certificate in ``folder`` (made on first use; the CA's key is not kept)."""
    tls = Tls(folder / "ca.crt", folder / "node.crt", folder / "node.key")
    if tls.ca.exists() and tls.cert.exists() and tls.key.exists():
        return tls
    account.private_dir(folder)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=VALID_DAYS)
    ca_key, node_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("depthpipe team stack CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    node = (
        x509.CertificateBuilder()
        .subject_name(_name("depthpipe-team"))
        .issuer_name(ca_name)
        .public_key(node_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    account.private_file(tls.key, _pem_key(node_key))
    account.private_file(tls.cert, node.public_bytes(serialization.Encoding.PEM).decode())
    account.private_file(tls.ca, ca.public_bytes(serialization.Encoding.PEM).decode())
    return tls
