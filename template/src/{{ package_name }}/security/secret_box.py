"""Encryption at rest for the secrets the service must read back (TOTP secrets): Fernet, under a key ring.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) encrypts and authenticates each value. Its keys are
derived by HKDF-SHA256 from MFA_ENCRYPTION_KEY, a secret of its own from the secret backend. Left unset, the key is
derived from SECRET_KEY instead (another HKDF label than every other use of it, so nothing else made from SECRET_KEY
opens these values), and then SECRET_KEY_PREVIOUS joins the ring. New values are encrypted under the current key;
those of the earlier keys (MFA_ENCRYPTION_KEY_PREVIOUS, or SECRET_KEY_PREVIOUS when no dedicated key is set) still
open, and are encrypted again under the current key at their next use (`opened.reencrypted`).

Moving from SECRET_KEY to a dedicated key: set MFA_ENCRYPTION_KEY, and put the value of SECRET_KEY in
MFA_ENCRYPTION_KEY_PREVIOUS until every account with MFA has logged in once (the same HKDF label is used for both).
"""

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Self

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..settings import Settings

HKDF_INFO = b"rampart/mfa-secret-box"


class SecretBoxError(Exception):
    """A stored value that no key of the ring opens: another deployment's, or its key was removed."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A decrypted value, and its ciphertext under the current key when it was made under an earlier one."""

    plaintext: str
    reencrypted: str | None


def fernet_key(secret: bytes) -> bytes:
    """The Fernet key that `secret` (a setting of at least 32 random bytes) stands for."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret)
    return base64.urlsafe_b64encode(derived)


class SecretBox:
    """Encrypt under the first key, open with any of them."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        fernets = [Fernet(fernet_key(key)) for key in keys]
        if not fernets:
            msg = "a secret box needs at least one key"
            raise ValueError(msg)
        self._current = fernets[0]
        self._ring = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if settings.mfa_encryption_key is not None:
            keys = (settings.mfa_encryption_key, *settings.mfa_encryption_key_previous)
        else:
            keys = (settings.secret_key, *settings.mfa_encryption_key_previous, *settings.secret_key_previous)
        return cls(key.get_secret_value().encode() for key in keys)

    def seal(self, plaintext: str) -> str:
        return self._current.encrypt(plaintext.encode()).decode("ascii")

    def open(self, ciphertext: str) -> Opened:
        token = ciphertext.encode("ascii")
        try:
            return Opened(self._current.decrypt(token).decode(), None)
        except InvalidToken:
            pass
        try:
            plaintext = self._ring.decrypt(token).decode()
        except InvalidToken:
            raise SecretBoxError from None
        return Opened(plaintext, self.seal(plaintext))
