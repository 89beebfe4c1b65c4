"""Password hashing: one configured algorithm and pepper, older hashes upgraded on the next successful login.

Hashing is slow on purpose, so every call runs in a worker thread behind a small capacity limiter: the event loop
keeps serving, and a burst of logins cannot take more memory than the limiter allows. While PASSWORD_PEPPER_PREVIOUS
lists N peppers, a wrong password for a bcrypt hash takes 1 + N bcrypts in its one thread: no more run at once, but
each check holds its thread, and the CPU, that much longer.
"""

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Self

import anyio
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers import HasherProtocol
from pwdlib.hashers.argon2 import Argon2Hasher

from ..settings import PasswordAlgorithm, Settings
from .hashers import LegacyBcryptHasher, PepperedBcryptHasher, ScryptHasher


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


class PasswordHasher:
    """Hashes and verifies passwords off the event loop."""

    def __init__(
        self,
        algorithm: PasswordAlgorithm,
        *,
        pepper: bytes | None = None,
        previous_peppers: Sequence[bytes] = (),
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
        self._previous_peppers = tuple(PepperedBcryptHasher(key, parameters.bcrypt_rounds) for key in previous_peppers)
        self._limiter = anyio.CapacityLimiter(max_concurrency or max(2, os.cpu_count() or 2))

    @classmethod
    def from_settings(cls, settings: Settings, parameters: HashParameters = PRODUCTION_PARAMETERS) -> Self:
        """The hasher PASSWORD_HASHER, PASSWORD_PEPPER and PASSWORD_PEPPER_PREVIOUS describe."""
        return cls(
            settings.password_hasher,
            pepper=settings.pepper,
            previous_peppers=settings.previous_peppers,
            parameters=parameters,
        )

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
            verified, updated = self._hash.verify_and_update(password, hashed)
            if not verified and self._previous_peppers and PepperedBcryptHasher.identify(hashed):
                # Mid-rotation: the hash may be of an earlier pepper. A match is hashed again with the current one.
                verified = any(earlier.verify(password, hashed) for earlier in self._previous_peppers)
                updated = self._hash.hash(password) if verified else None
        except _CORRUPT_HASH:
            return False, None
        return verified, updated

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hash.hash(secrets.token_urlsafe(32))
