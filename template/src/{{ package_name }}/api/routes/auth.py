"""Register, log in, rotate refresh tokens, log out."""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response, status

from ...models import User
from ...observability.audit import AuditEvent, record
from ...schemas import LogoutIn, MfaChallengeOut, NoNul, RefreshIn, RegisterIn, TokenPair, UserOut
from ...security.emails import email_for_lookup
from ...security.password_policy import MAX_PASSWORD_LENGTH
from ...security.sessions import (
    RefreshTokenReusedError,
    SessionIdleError,
    revoke_refresh_family,
    revoke_session,
    revoke_user_sessions,
    rotate,
)
from ..deps import (
    PUBLIC,
    Accounts,
    ClientAddress,
    CurrentPrincipal,
    DbSession,
    Mfa,
    MfaChallengesDep,
    RateLimiterDep,
    SettingsDep,
    TokensDep,
)
from ..device_tokens import DeviceTokenCookie, give_device_token
from ..login import log_in, token_pair
from ..responses import error, errors

router = APIRouter(prefix="/auth", tags=["auth"])

LOGIN_FAILED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Incorrect email or password.",
    headers={"WWW-Authenticate": "Bearer"},
)
INVALID_REFRESH = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Invalid refresh token.",
    headers={"WWW-Authenticate": "Bearer"},
)
# Only a caller who knows the password learns that the address is not verified yet.
EMAIL_UNVERIFIED = HTTPException(
    status_code=status.HTTP_403_FORBIDDEN,
    detail="Verify your email address first: follow the link mailed to it, or ask for a new one.",
)
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    openapi_extra=PUBLIC,
    responses={**errors(429), 409: error(409, "An account with this email exists already.")},
)
async def register(body: RegisterIn, accounts: Accounts, limiter: RateLimiterDep, client: ClientAddress) -> User:
    await limiter.hit(limiter.limits.register, "register", client)
    return await accounts.register(body.email, body.password)


@router.post(
    "/login",
    response_model=TokenPair | MfaChallengeOut,
    openapi_extra=PUBLIC,
    responses={
        **errors(429),
        401: error(401, "Wrong email or password, or a disabled account: one answer for all."),
        403: error(403, "The password is right, but the address is not verified (EMAIL_VERIFICATION_REQUIRED)."),
    },
)
async def login(
    username: Annotated[str, Form(max_length=320), NoNul],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    accounts: Accounts,
    tokens: TokensDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    mfa: Mfa,
    challenges: MfaChallengesDep,
    request: Request,
    response: Response,
    device_token: DeviceTokenCookie = None,
) -> TokenPair | MfaChallengeOut:
    """A token pair; for an account with MFA, a challenge to bring to POST /auth/login/mfa with a code instead."""
    email = email_for_lookup(username)  # register's spelling, so that every spelling is one account and one budget
    async with await limiter.start_password_check(accounts.client, email, device_token) as check:
        # Only `failed()` keeps the slot of the account's budget: a 503 on the way gives it back.
        user = await accounts.authenticate(email, password, account_hash=check.account_hash)
        if user is None:
            check.failed()
            raise LOGIN_FAILED
        check.succeeded()
    if settings.email_verification_required and user.email_verified_at is None:
        await accounts.db.commit()  # a password hash rewritten by `authenticate` is kept
        record(AuditEvent.AUTHN_LOGIN_FAIL, user_id=user.id, client=accounts.client, reason="email_unverified")
        raise EMAIL_UNVERIFIED
    if await mfa.is_enabled(user.id):
        await accounts.db.commit()  # a password hash rewritten by `authenticate` is kept
        record(AuditEvent.AUTHN_MFA_CHALLENGED, user_id=user.id, client=accounts.client)
        give_device_token(request, response, check)
        return MfaChallengeOut(mfa_token=challenges.issue(user.id, user.hashed_password), expires_in=challenges.ttl)
    ttl = settings.refresh_token_ttl_seconds
    pair = await log_in(accounts.db, tokens, user, ttl, accounts.client, trusted_device=check.trusted_device)
    give_device_token(request, response, check)
    return pair


@router.post(
    "/refresh",
    response_model=TokenPair,
    openapi_extra=PUBLIC,
    responses={
        **errors(429),
        401: error(401, "The refresh token is unknown, used, expired or idle, or its session is over."),
    },
)
async def refresh(
    body: RefreshIn,
    db: DbSession,
    tokens: TokensDep,
    limiter: RateLimiterDep,
    client: ClientAddress,
    settings: SettingsDep,
) -> TokenPair:
    await limiter.hit(limiter.limits.refresh, "refresh", client)
    try:
        rotated = await rotate(db, body.refresh_token, idle_timeout_seconds=settings.refresh_token_idle_timeout_seconds)
    except RefreshTokenReusedError as reuse:
        await db.commit()
        record(AuditEvent.AUTHN_TOKEN_REUSE, user_id=reuse.user_id, client=client, session_id=str(reuse.session_id))
        raise INVALID_REFRESH from None
    except SessionIdleError as idle:
        await db.commit()
        session_id = str(idle.session_id)
        record(AuditEvent.SESSION_EXPIRED, user_id=idle.user_id, client=client, session_id=session_id, reason="idle")
        raise INVALID_REFRESH from None
    if rotated is None:
        raise INVALID_REFRESH
    user, issued = rotated
    await db.commit()
    record(AuditEvent.AUTHN_TOKEN_REFRESHED, user_id=user.id, client=client, session_id=str(issued.session_id))
    return token_pair(tokens, user, issued)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: CurrentPrincipal, db: DbSession, client: ClientAddress, body: LogoutIn | None = None
) -> Response:
    await revoke_session(db, principal.session_id)
    if body is not None and body.refresh_token:
        await revoke_refresh_family(db, principal.user.id, body.refresh_token)
    await db.commit()
    record(AuditEvent.SESSION_LOGOUT, user_id=principal.user.id, client=client, session_id=str(principal.session_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Clear-Site-Data": CLEAR_SITE_DATA})


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_all(principal: CurrentPrincipal, db: DbSession, client: ClientAddress) -> Response:
    await revoke_user_sessions(db, principal.user.id)
    await db.commit()
    record(AuditEvent.SESSION_LOGOUT_ALL, user_id=principal.user.id, client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Clear-Site-Data": CLEAR_SITE_DATA})
