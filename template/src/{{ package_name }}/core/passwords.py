"""Password hashing: one configured algorithm, older hashes upgraded on the next successful login.

Hashing is slow on purpose, so every call runs in a worker thread behind a small capacity limiter: the event loop
keeps serving, and a burst of logins cannot take more memory than the limiter allows.
"""

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import anyio
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers import HasherProtocol
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

Algorithm = Literal["argon2", "bcrypt", "scrypt"]


@dataclass(frozen=True, slots=True)
class HashParameters:
    """Work factors. The defaults are the production values: at or above OWASP's Password Storage Cheat Sheet."""

    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 4
    bcrypt_rounds: int = 12
    scrypt_log2_n: int = 17
    scrypt_r: int = 8
    scrypt_p: int = 1


PRODUCTION_PARAMETERS = HashParameters()

# What a stored hash that no hasher can read raises: a failed login, never a 500.
_CORRUPT_HASH = (UnknownHashError, ValueError, TypeError)


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


class PasswordHasher:
    """Hashes and verifies passwords off the event loop."""

    def __init__(
        self,
        algorithm: Algorithm,
        *,
        pepper: bytes | None = None,
        parameters: HashParameters = PRODUCTION_PARAMETERS,
        max_concurrency: int | None = None,
    ) -> None:
        argon2 = Argon2Hasher(
            time_cost=parameters.argon2_time_cost,
            memory_cost=parameters.argon2_memory_kib,
            parallelism=parameters.argon2_parallelism,
        )
        scrypt = ScryptHasher(parameters.scrypt_log2_n, parameters.scrypt_r, parameters.scrypt_p)
        peppered = PepperedBcryptHasher(pepper, parameters.bcrypt_rounds) if pepper is not None else None
        available: dict[str, HasherProtocol | None] = {"argon2": argon2, "scrypt": scrypt, "bcrypt": peppered}
        current = available.pop(algorithm)
        if current is None:
            msg = "bcrypt needs a pepper"
            raise ValueError(msg)
        legacy: Sequence[HasherProtocol] = [h for h in available.values() if h is not None]
        self.algorithm = algorithm
        self._hash = PasswordHash((current, *legacy, LegacyBcryptHasher()))
        self._limiter = anyio.CapacityLimiter(max_concurrency or max(2, os.cpu_count() or 2))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash.hash, password, limiter=self._limiter)

    async def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """Whether the password matches, and a new hash to store when the stored one is outdated."""
        return await anyio.to_thread.run_sync(self._verify_and_update, password, hashed, limiter=self._limiter)

    async def dummy_verify(self, password: str) -> None:
        """Spend the same work as a real verification, so unknown accounts answer no faster."""
        await anyio.to_thread.run_sync(self._verify_and_update, password, self._dummy_hash, limiter=self._limiter)

    def _verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        try:
            return self._hash.verify_and_update(password, hashed)
        except _CORRUPT_HASH:
            return False, None

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hash.hash(secrets.token_urlsafe(32))


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
