"""Request dependencies: the database session, the services built at start-up, and who is calling.

Owners' routes depend on `CurrentCaller` to require a login and learn who is calling: one query outside any
transaction, no ORM object. A route that changes the user itself depends on `CurrentUser` (or `AdminUser`), the ORM
`User` in the request's session. Anonymous routes are marked with `PUBLIC`.
Every dependency is `async def`, even those that only read an attribute: FastAPI runs a plain `def` dependency in a
worker thread, and that hop costs more per request than the whole security middleware (per rampart's bench).
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from ..models import User
from ..observability.audit import AuditEvent, record
from ..security.mfa_challenge import MfaChallenges
from ..security.passwords import PasswordHasher
from ..security.rate_limit import RateLimiter
from ..security.sessions import Caller, caller_for_access, user_for_access
from ..security.tokens import AccessClaims, InvalidTokenError, TokenService
from ..services.accounts import AccountService
from ..services.mfa import MfaService
from ..services.step_up import StepUp
from ..settings import Settings

# Mark a route that answers without a token: `@router.get(..., openapi_extra=PUBLIC)`. Every other route must
# refuse anonymous callers, and tests/test_access_control.py (F02) checks that against the whole OpenAPI list.
PUBLIC: dict[str, Any] = {"x-public": True}

BEARER_DESCRIPTION = "Access token from POST /api/v1/auth/login"

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Could not validate credentials.",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def app_settings(request: Request) -> Settings:
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


async def get_mfa_challenges(request: Request) -> MfaChallenges:
    challenges: MfaChallenges = request.app.state.mfa_challenges
    return challenges


async def client_address(request: Request) -> str:
    """The caller's address; behind TRUSTED_PROXIES it comes from X-Forwarded-For (middleware/proxy_headers.py)."""
    return request.client.host if request.client else "unknown"


# Closed as soon as the route returns, before the response is sent: the connection goes back to the pool while the
# client is still reading, so the client's next request finds it there instead of opening an overflow connection.
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(app_settings)]
PasswordsDep = Annotated[PasswordHasher, Depends(get_passwords)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
MfaChallengesDep = Annotated[MfaChallenges, Depends(get_mfa_challenges)]
ClientAddress = Annotated[str, Depends(client_address)]


def accounts_for(state: State, db: AsyncSession, client: str) -> AccountService:
    """The account steps in `db` on behalf of `client`, with the app's hasher and mail (also outside a request)."""
    settings: Settings = state.settings
    return AccountService(
        db,
        state.passwords,
        settings.password_min_length,
        client,
        service_name=settings.project_name,
        mail=state.account_mail,
    )


async def get_accounts(db: DbSession, request: Request, client: ClientAddress) -> AccountService:
    return accounts_for(request.app.state, db, client)


Accounts = Annotated[AccountService, Depends(get_accounts)]


async def get_mfa(db: DbSession, request: Request, client: ClientAddress) -> MfaService:
    state = request.app.state
    settings = state.settings
    return MfaService(
        db, state.secret_box, state.rate_limiter, client, issuer=settings.project_name, mail=state.account_mail
    )


Mfa = Annotated[MfaService, Depends(get_mfa)]


async def get_step_up(accounts: Accounts, mfa: Mfa, limiter: RateLimiterDep) -> StepUp:
    return StepUp(accounts, mfa, limiter)


StepUpDep = Annotated[StepUp, Depends(get_step_up)]


def access_claims(request: Request) -> AccessClaims:
    """The claims of the request's bearer access token, checked in process; 401 without a valid one."""
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    if not token or scheme.lower() != "bearer":
        raise UNAUTHORIZED
    tokens: TokenService = request.app.state.tokens
    try:
        return tokens.decode_access_token(token)
    except InvalidTokenError:
        raise UNAUTHORIZED from None


class BearerSecurity(SecurityBase):
    """A dependency that authenticates a bearer access token; OpenAPI shows it as the `HTTPBearer` scheme."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(description=BEARER_DESCRIPTION)
        self.scheme_name = "HTTPBearer"


class BearerCaller(BearerSecurity):
    """The caller, in one dependency: token, then user and session in one statement on the reading engine's pool
    (`security.sessions.caller_for_access`); no ORM session, no transaction, no sub-dependencies."""

    async def __call__(self, request: Request) -> Caller:
        claims = access_claims(request)
        caller = await caller_for_access(request.app.state.reader, claims.user_id, claims.session_id)
        if caller is None:
            raise UNAUTHORIZED
        return caller


CurrentCaller = Annotated[Caller, Depends(BearerCaller())]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller as the ORM `User` in the request's session, and the session their token belongs to."""

    user: User
    session_id: uuid.UUID


class BearerPrincipal(BearerSecurity):
    """The caller for routes that change the user: `BearerCaller`'s checks, read into the request's session."""

    async def __call__(self, request: Request, db: DbSession) -> Principal:
        claims = access_claims(request)
        user = await user_for_access(db, claims.user_id, claims.session_id)
        if user is None:
            raise UNAUTHORIZED
        return Principal(user, claims.session_id)


CurrentPrincipal = Annotated[Principal, Depends(BearerPrincipal())]


async def get_current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser, client: ClientAddress, request: Request, mfa: Mfa) -> User:
    if not user.is_admin:
        record(AuditEvent.AUTHZ_FAIL, user_id=user.id, client=client, path=request.url.path)
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Not enough privileges.")
    # M05: with MFA_REQUIRED_FOR_ADMINS, an admin account without MFA has no admin rights until it enrols.
    if request.app.state.settings.mfa_required_for_admins and not await mfa.is_enabled(user.id):
        record(AuditEvent.AUTHZ_FAIL, user_id=user.id, client=client, path=request.url.path, reason="mfa_required")
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Admin routes require MFA on the account.")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
