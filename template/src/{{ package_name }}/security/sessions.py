"""Login sessions and their refresh-token families, kept server-side so revocation takes effect at once.

An access token names its session (`sid`); every authenticated request checks user and session in one query, made
on a pooled connection outside any transaction (`caller_for_access`), so it costs one round trip to the database.
A refresh token is single-use: using one marks it used and issues its successor in the same family. Presenting
a used one again means it was copied, so the whole family is revoked. A session whose latest refresh token lies
unused for longer than the idle timeout (REFRESH_TOKEN_IDLE_TIMEOUT_SECONDS) ends when it is next presented, even
inside its absolute expiry; the check is made on refresh only, so authenticated requests cost nothing more.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.reader import Reader
from ..models import AuthSession, RefreshToken, User, utcnow
from .tokens import hash_refresh_token, new_refresh_token


class RefreshRefusedError(Exception):
    """A refresh token that names a session, refused for a reason worth an audit event; the session is revoked."""

    def __init__(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        super().__init__()
        self.user_id = user_id
        self.session_id = session_id


class RefreshTokenReusedError(RefreshRefusedError):
    """A refresh token presented a second time: it was copied, so its whole family is revoked."""


class SessionIdleError(RefreshRefusedError):
    """The refresh token lay unused for longer than the idle timeout: its session is over."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who an access token belongs to, as the database said when the request came in: read-only, no ORM object."""

    session_id: uuid.UUID
    id: uuid.UUID
    email: str
    full_name: str | None
    is_active: bool
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session_id: uuid.UUID
    refresh_token: str


async def start_session(db: AsyncSession, user: User, lifetime_seconds: int) -> IssuedSession:
    now = utcnow()
    session = AuthSession(user_id=user.id, created_at=now, expires_at=now + timedelta(seconds=lifetime_seconds))
    db.add(session)
    await db.flush()
    refresh_token = _add_refresh_token(db, session, now)
    return IssuedSession(session.id, refresh_token)


# Built once: constructing these statements took longer than running them on SQLite (per rampart's bench).
_LIVE_SESSION = (
    AuthSession.id == bindparam("session_id"),
    User.id == bindparam("user_id"),
    AuthSession.revoked_at.is_(None),
    AuthSession.expires_at > bindparam("now"),
    User.is_active.is_(True),
)
_USER_FOR_ACCESS = select(User).join(AuthSession, AuthSession.user_id == User.id).where(*_LIVE_SESSION)
_CALLER_FOR_ACCESS = (
    select(User.id, User.email, User.full_name, User.is_active, User.is_admin, User.created_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(*_LIVE_SESSION)
)


async def caller_for_access(reader: Reader, user_id: uuid.UUID, session_id: uuid.UUID) -> Caller | None:
    """The active user behind a live session, read in one statement on the engine's pool, no ORM unit of work.

    `reader` is the database's (`db.engine.create_reader`): on PostgreSQL it runs the statement on the driver in
    autocommit, so no BEGIN and ROLLBACK go to the server around it.
    """
    row = await reader.first(_CALLER_FOR_ACCESS, {"session_id": session_id, "user_id": user_id, "now": utcnow()})
    return None if row is None else Caller(session_id, *row)


async def user_for_access(db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> User | None:
    """The active user behind a live session: the one query every authenticated request makes."""
    parameters = {"session_id": session_id, "user_id": user_id, "now": utcnow()}
    return (await db.execute(_USER_FOR_ACCESS, parameters)).scalar_one_or_none()


async def rotate(db: AsyncSession, presented: str, *, idle_timeout_seconds: int) -> tuple[User, IssuedSession] | None:
    """Exchange a refresh token for its successor; None when it is unknown, expired or its session is over.

    Raises `RefreshTokenReusedError` for a used token and `SessionIdleError` for one unused longer than
    `idle_timeout_seconds`, after revoking the session (the caller commits).
    """
    now = utcnow()
    row = (
        await db.execute(
            select(RefreshToken, AuthSession, User)
            .join(AuthSession, RefreshToken.session_id == AuthSession.id)
            .join(User, AuthSession.user_id == User.id)
            .where(RefreshToken.token_hash == hash_refresh_token(presented))
        )
    ).one_or_none()
    if row is None:
        return None
    token, session, user = row
    if session.revoked_at is not None or not user.is_active or token.expires_at <= now:
        return None
    # A used token is checked for reuse below whatever its age: theft outranks idleness.
    if token.used_at is None and now - token.created_at >= timedelta(seconds=idle_timeout_seconds):
        await revoke_sessions(db, AuthSession.id == session.id)
        raise SessionIdleError(user.id, session.id)
    claimed = await db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await revoke_sessions(db, AuthSession.id == session.id)
        raise RefreshTokenReusedError(user.id, session.id)
    refresh_token = _add_refresh_token(db, session, now)
    return user, IssuedSession(session.id, refresh_token)


async def revoke_session(db: AsyncSession, session_id: uuid.UUID) -> None:
    await revoke_sessions(db, AuthSession.id == session_id)


async def revoke_refresh_family(db: AsyncSession, user_id: uuid.UUID, presented: str) -> None:
    """Revoke the session a refresh token belongs to, if it is the caller's."""
    family = select(RefreshToken.session_id).where(RefreshToken.token_hash == hash_refresh_token(presented))
    await revoke_sessions(db, AuthSession.user_id == user_id, AuthSession.id.in_(family.scalar_subquery()))


async def revoke_user_sessions(db: AsyncSession, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> None:
    conditions = [AuthSession.user_id == user_id]
    if keep is not None:
        conditions.append(AuthSession.id != keep)
    await revoke_sessions(db, *conditions)


async def revoke_sessions(db: AsyncSession, *conditions: object) -> None:
    await db.execute(
        update(AuthSession)
        .where(AuthSession.revoked_at.is_(None), *conditions)  # type: ignore[arg-type]
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _add_refresh_token(db: AsyncSession, session: AuthSession, now: datetime) -> str:
    token = new_refresh_token()
    db.add(
        RefreshToken(
            session_id=session.id,
            token_hash=hash_refresh_token(token),
            created_at=now,
            expires_at=session.expires_at,
        )
    )
    return token
