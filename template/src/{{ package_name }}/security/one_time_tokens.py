"""Mailed one-time tokens: password reset, email verification, email change.

A token is 256 bits from the operating system's CSPRNG; the database keeps only its SHA-256, with the account it is
bound to, its purpose and its expiry. It is used once: `redeem` claims it with `UPDATE ... WHERE used_at IS NULL`
and trusts the row count, so of two concurrent uses exactly one wins, on every database. `void` ends a user's
outstanding tokens of some purposes: every password change voids the reset tokens (`services/accounts.py`).
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum, auto

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import OneTimeToken, utcnow

PREFIX = "ot_"
MAX_TOKEN_LENGTH = 128


class Purpose(StrEnum):
    """What a token is for; its value (the name in lower case) is stored with it."""

    PASSWORD_RESET = auto()
    EMAIL_VERIFICATION = auto()
    EMAIL_CHANGE = auto()


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A token that was valid and is now used: whose it was, what for, and the address of an email change."""

    user_id: uuid.UUID
    purpose: Purpose
    new_email: str | None


def hash_token(token: str) -> str:
    """What the database stores instead of the token. A fast hash is right here: the input has 256 bits."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def issue(
    db: AsyncSession, user_id: uuid.UUID, purpose: Purpose, ttl_seconds: int, *, new_email: str | None = None
) -> str:
    """A new token for `user_id`, added to the caller's transaction; the caller mails it and commits."""
    token = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        OneTimeToken(
            user_id=user_id,
            purpose=purpose.value,
            token_hash=hash_token(token),
            new_email=new_email,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return token


async def peek(db: AsyncSession, presented: str, purposes: set[Purpose]) -> OneTimeToken | None:
    """The unused, unexpired token row for `presented`, without using it: to check a request before its work."""
    if not presented.startswith(PREFIX) or len(presented) > MAX_TOKEN_LENGTH:
        return None
    row = await db.scalar(select(OneTimeToken).where(OneTimeToken.token_hash == hash_token(presented)))
    if row is None or row.purpose not in purposes or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


async def redeem(db: AsyncSession, presented: str, purposes: set[Purpose]) -> Redeemed | None:
    """Use the token: None when it is unknown, of another purpose, expired, or used, by now or by a concurrent call.

    The claim is part of the caller's transaction: commit it with the change the token allows.
    """
    row = await peek(db, presented, purposes)
    if row is None:
        return None
    claimed = await db.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None), OneTimeToken.expires_at > utcnow())
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Redeemed(row.user_id, Purpose(row.purpose), row.new_email)


async def void(db: AsyncSession, user_id: uuid.UUID, *purposes: Purpose) -> None:
    """End every outstanding token of these purposes for the user, in the caller's transaction."""
    await db.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose.in_([purpose.value for purpose in purposes]),
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
