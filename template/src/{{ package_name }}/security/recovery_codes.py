"""Recovery codes: the way in when the authenticator is lost. Shown once, stored as SHA-256, each good for one use.

A code is 80 bits from the operating system's CSPRNG, written as four groups of five hex digits. 80 bits make a
fast hash the right one, as for refresh tokens: nobody can search 2**80 inputs for a hash taken from the database.
Dashes, spaces and case do not matter when a code is typed back. Using one is a conditional UPDATE of its `used_at`
(`claim`): of two requests bringing the same code, exactly one gets in.
"""

import hashlib
import secrets
import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import MfaRecoveryCode, utcnow

CODES_PER_ENROLMENT = 10
CODE_BYTES = 10
GROUP = 5
CODE_LENGTH = 2 * CODE_BYTES


def new_codes(count: int = CODES_PER_ENROLMENT) -> list[str]:
    codes = []
    for _ in range(count):
        digits = secrets.token_hex(CODE_BYTES)
        codes.append("-".join(digits[start : start + GROUP] for start in range(0, CODE_LENGTH, GROUP)))
    return codes


def normalise(code: str) -> str | None:
    """A typed code in its stored spelling (hex digits, lower case), or None when it cannot be one."""
    digits = code.replace("-", "").replace(" ", "").lower()
    if len(digits) != CODE_LENGTH or any(char not in "0123456789abcdef" for char in digits):
        return None
    return digits


def hash_code(code: str) -> str:
    """What the database keeps of a code (in its normalised spelling)."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def rows_for(user_id: uuid.UUID, codes: list[str]) -> list[MfaRecoveryCode]:
    return [
        MfaRecoveryCode(user_id=user_id, code_hash=hash_code(digits)) for code in codes if (digits := normalise(code))
    ]


async def claim(db: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    """Use one unused code of this user; False when `code` is none of them (or was used already)."""
    digits = normalise(code)
    if digits is None:
        return False
    claimed = await db.execute(
        update(MfaRecoveryCode)
        .where(
            MfaRecoveryCode.user_id == user_id,
            MfaRecoveryCode.code_hash == hash_code(digits),
            MfaRecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
