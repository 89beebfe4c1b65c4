"""Request dependencies: the database session, the services built at start-up, and who is calling.

Every one is `async def`, even those that only read an attribute: FastAPI runs a plain `def` dependency in a worker
thread, and that hop costs more per request than the whole security middleware (per rampart's bench).
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from ..core import audit
from ..core.config import Settings
from ..core.passwords import PasswordHasher
from ..core.rate_limit import RateLimiter
from ..core.session_store import user_for_access
from ..core.tokens import InvalidTokenError, TokenService
from ..models import User

# Mark a route that answers without a token: `@router.get(..., openapi_extra=PUBLIC)`. Every other route must
# refuse anonymous callers, and tests/test_access_control.py (F02) checks that against the whole OpenAPI list.
PUBLIC: dict[str, Any] = {"x-public": True}

bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/login")

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Could not validate credentials.",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_passwords(request: Request) -> PasswordHasher:
    passwords: PasswordHasher = request.app.state.passwords
    return passwords


async def get_tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def client_address(request: Request) -> str:
    """The caller's address; behind TRUSTED_PROXIES it comes from X-Forwarded-For (see ProxyHeadersMiddleware)."""
    return request.client.host if request.client else "unknown"


DbSession = Annotated[AsyncSession, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PasswordsDep = Annotated[PasswordHasher, Depends(get_passwords)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
ClientAddress = Annotated[str, Depends(client_address)]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller and the session their access token belongs to."""

    user: User
    session_id: uuid.UUID


async def get_principal(
    db: DbSession,
    tokens: TokensDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    if credentials is None:
        raise UNAUTHORIZED
    try:
        claims = tokens.decode_access_token(credentials.credentials)
    except InvalidTokenError:
        raise UNAUTHORIZED from None
    user = await user_for_access(db, claims.user_id, claims.session_id)
    if user is None:
        raise UNAUTHORIZED
    return Principal(user, claims.session_id)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser, client: ClientAddress, request: Request) -> User:
    if not user.is_admin:
        audit.record(audit.AUTHZ_DENIED, user_id=user.id, client=client, path=request.url.path)
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Not enough privileges.")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
