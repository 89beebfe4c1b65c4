"""The end of every successful login, in one step or after the MFA step: a session, its audit event, its tokens."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..models import User
from ..observability.audit import AuditEvent, record
from ..schemas import TokenPair
from ..security.sessions import IssuedSession, start_session
from ..security.tokens import TokenService


def token_pair(tokens: TokenService, user: User, issued: IssuedSession) -> TokenPair:
    """The tokens of a session: a new access token, and the refresh token the session was issued with."""
    return TokenPair(
        access_token=tokens.issue_access_token(user.id, issued.session_id),
        refresh_token=issued.refresh_token,
        expires_in=tokens.access_ttl,
    )


async def log_in(
    db: AsyncSession, tokens: TokenService, user: User, ttl_seconds: int, client: str, **audit: Any
) -> TokenPair:
    """Start a session of `user` lasting `ttl_seconds`, commit it, and log the login with the `audit` fields."""
    issued = await start_session(db, user, ttl_seconds)
    await db.commit()
    record(AuditEvent.AUTHN_LOGIN_SUCCESS, user_id=user.id, client=client, session_id=str(issued.session_id), **audit)
    return token_pair(tokens, user, issued)
