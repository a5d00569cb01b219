"""A stand-in for Google's OIDC issuer, for tests: an RSA key, its certificate served as Google
serves its own (``{key id: PEM certificate}``), and ID tokens signed as Cloud Tasks' would be."""

from __future__ import annotations

import datetime
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt


class Issuer:
    """Signs ID tokens with a key of its own; ``certs()`` is what the verifier fetches."""

    def __init__(self, key_id: str = "test-key-1") -> None:
        self.key_id = key_id
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test issuer")])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        pem = self._key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        self._signer = crypt.RSASigner.from_string(pem, key_id=key_id)

    def certs(self) -> dict[str, str]:
        return {self.key_id: self._cert.public_bytes(serialization.Encoding.PEM).decode()}

    def token(self, email: str, audience: str, lifetime: int = 300, **claims: Any) -> str:
        """An ID token as Cloud Tasks sends for a task's ``oidc_token``."""
        now = int(time.time())
        payload = {"iss": "https://accounts.google.com", "aud": audience, "email": email,
                   "email_verified": True, "sub": "1234567890", "iat": now,
                   "exp": now + lifetime, **claims}
        return jwt.encode(self._signer, payload).decode()
