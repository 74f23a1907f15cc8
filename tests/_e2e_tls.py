"""A certificate authority and a server certificate for 127.0.0.1, made for one test run.

The end-to-end test runs the collectors' tiers with TLS and a bearer token
(``otelcol/secure/*.yaml``); nothing here is ever trusted outside that run.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path


@dataclass(frozen=True)
class PipelineCredentials:
    """Files the secure overlays read, by the variable that names them."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    token_file: Path

    def environment(self) -> dict[str, str]:
        return {
            "OTEL_ERRORS_TLS_CERT_FILE": str(self.cert_file),
            "OTEL_ERRORS_TLS_KEY_FILE": str(self.key_file),
            "OTEL_ERRORS_GATEWAY_CA_FILE": str(self.ca_file),
            "OTEL_ERRORS_PIPELINE_TOKEN_FILE": str(self.token_file),
        }


def pipeline_credentials(directory: Path) -> PipelineCredentials:
    """A fresh CA, a server certificate it signs (127.0.0.1, localhost) and a token."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def certificate(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
        signer: ec.EllipticCurvePrivateKey, *, ca: bool,
    ) -> x509.Certificate:  # fmt: skip
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otel-errors e2e CA")])
    ca = certificate("otel-errors e2e CA", ca_key, ca_name, ca_key, ca=True)
    server = certificate("127.0.0.1", server_key, ca_name, ca_key, ca=False)
    files = PipelineCredentials(
        directory / "ca.crt", directory / "tls.crt", directory / "tls.key", directory / "token"
    )
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key_file.chmod(0o600)
    files.token_file.write_text(secrets.token_urlsafe(32))
    files.token_file.chmod(0o600)
    return files
