"""The password hashing algorithms this service can read, each a pwdlib `HasherProtocol`.

argon2id comes from pwdlib; scrypt (standard library) and bcrypt over a keyed pre-hash are written here, since pwdlib
has neither in this form. `PasswordHasher` (`passwords.py`) writes hashes with the configured one and still verifies
every other, so that changing PASSWORD_HASHER keeps every account able to log in.
"""

import base64
import hashlib
import hmac
import os
import re

from pwdlib.hashers import HasherProtocol
from pwdlib.hashers.bcrypt import BcryptHasher


class ScryptHasher(HasherProtocol):
    """scrypt from the standard library, stored as `$scrypt$ln=17,r=8,p=1$<salt>$<hash>`."""

    _pattern = re.compile(r"^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$")

    def __init__(self, log2_n: int = 17, r: int = 8, p: int = 1) -> None:
        self.log2_n, self.r, self.p = log2_n, r, p

    @classmethod
    def identify(cls, hash: str | bytes) -> bool:
        return cls._pattern.match(_text(hash)) is not None

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        salt = salt or os.urandom(16)
        digest = self._derive(_bytes(password), salt, self.log2_n, self.r, self.p)
        return f"$scrypt$ln={self.log2_n},r={self.r},p={self.p}${_b64(salt)}${_b64(digest)}"

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        match = self._pattern.match(_text(hash))
        if match is None:
            return False
        log2_n, r, p = (int(group) for group in match.group(1, 2, 3))
        expected = base64.b64decode(match.group(5))
        actual = self._derive(_bytes(password), base64.b64decode(match.group(4)), log2_n, r, p)
        return hmac.compare_digest(actual, expected)

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        match = self._pattern.match(_text(hash))
        return match is None or tuple(int(group) for group in match.group(1, 2, 3)) != (self.log2_n, self.r, self.p)

    @staticmethod
    def _derive(password: bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
        n = 2**log2_n
        return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=256 * n * r * p, dklen=32)


class LegacyBcryptHasher(BcryptHasher):
    """Plain `$2b$` hashes imported from other systems: verified, then upgraded, never written."""

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        if len(_bytes(password)) > 72:
            return False
        try:
            return super().verify(password, hash)
        except ValueError:
            return False


class PepperedBcryptHasher(HasherProtocol):
    """bcrypt over HMAC-SHA256(pepper, password), stored as `$bcrypt-hmac$2b$...`.

    bcrypt reads only 72 bytes; the keyed pre-hash lets every byte count, and the pepper stops hashes leaked
    from elsewhere (password shucking) from being tested against these.

    A hash does not say which pepper made it: the format is the one every release reads, so instances of the
    previous release and of this one can share a database during a rolling update or a rollback. Earlier peppers
    (PASSWORD_PEPPER_PREVIOUS) are each a hasher of their own, which `PasswordHasher` tries only after the current
    pepper refused the password. Without earlier peppers a check is one bcrypt; with N of them a wrong password costs
    1 + N, and so does the check for an unknown account when bcrypt is PASSWORD_HASHER (no faster answer).
    """

    prefix = "$bcrypt-hmac"

    def __init__(self, pepper: bytes, rounds: int = 12) -> None:
        self._pepper = pepper
        self._bcrypt = BcryptHasher(rounds=rounds)

    @classmethod
    def identify(cls, hash: str | bytes) -> bool:
        return _text(hash).startswith(cls.prefix + "$2b$")

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        return self.prefix + self._bcrypt.hash(self._prehash(password), salt=salt)

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        inner = _text(hash).removeprefix(self.prefix)
        try:
            return self._bcrypt.verify(self._prehash(password), inner)
        except ValueError:
            return False

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        return self._bcrypt.check_needs_rehash(_text(hash).removeprefix(self.prefix))

    def _prehash(self, password: str | bytes) -> bytes:
        return base64.b64encode(hmac.digest(self._pepper, _bytes(password), "sha256"))


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
