"""Register, log in, rotate refresh tokens, log out."""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...core import audit
from ...core.password_policy import MAX_PASSWORD_LENGTH, password_problem
from ...core.rate_limit import RateLimitExceededError
from ...core.session_store import (
    IssuedSession,
    RefreshTokenReusedError,
    revoke_refresh_family,
    revoke_session,
    revoke_user_sessions,
    rotate,
    start_session,
)
from ...core.tokens import TokenService
from ...models import User
from ...schemas import LogoutIn, NoNul, RefreshIn, RegisterIn, TokenPair, UserOut
from ..deps import (
    PUBLIC,
    ClientAddress,
    CurrentPrincipal,
    DbSession,
    PasswordsDep,
    RateLimiterDep,
    SettingsDep,
    TokensDep,
)
from ..errors import policy_error, rate_limited

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
EMAIL_TAKEN = HTTPException(status_code=status.HTTP_409_CONFLICT, detail="Email already registered.")
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


def _token_pair(tokens: TokenService, user: User, issued: IssuedSession) -> TokenPair:
    return TokenPair(
        access_token=tokens.issue_access_token(user.id, issued.session_id),
        refresh_token=issued.refresh_token,
        expires_in=tokens.access_ttl,
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserOut, openapi_extra=PUBLIC)
async def register(
    body: RegisterIn,
    db: DbSession,
    passwords: PasswordsDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    client: ClientAddress,
) -> User:
    try:
        await limiter.hit(limiter.limits.register, "register", client)
    except RateLimitExceededError as exc:
        raise rate_limited(exc, client) from None
    if problem := password_problem(body.password, settings.password_min_length):
        raise policy_error("password", problem)
    if await db.scalar(select(User.id).where(User.email == body.email)) is not None:
        raise EMAIL_TAKEN
    user = User(email=body.email, hashed_password=await passwords.hash(body.password))
    db.add(user)
    try:
        await db.commit()
    except IntegrityError:
        raise EMAIL_TAKEN from None
    audit.record(audit.REGISTER, user_id=user.id, client=client)
    return user


@router.post("/login", response_model=TokenPair, openapi_extra=PUBLIC)
async def login(
    username: Annotated[str, Form(max_length=320), NoNul],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    db: DbSession,
    passwords: PasswordsDep,
    tokens: TokensDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    client: ClientAddress,
) -> TokenPair:
    email = username.strip().lower()
    try:
        attempt = await limiter.start_login(client, email)
    except RateLimitExceededError as exc:
        raise rate_limited(exc, client) from None

    async with attempt:  # leaving it without `succeeded()` counts a failed login for this username
        user = await db.scalar(select(User).where(User.email == email))
        if user is None:
            await passwords.dummy_verify(password)
            valid, new_hash = False, None
        else:
            valid, new_hash = await passwords.verify_and_update(password, user.hashed_password)
        if user is None or not valid or not user.is_active:
            audit.record(audit.LOGIN_FAILURE, user_id=user.id if user else None, client=client)
            raise LOGIN_FAILED
        attempt.succeeded()

    if new_hash is not None:
        user.hashed_password = new_hash
    issued = await start_session(db, user, settings.refresh_token_ttl_seconds)
    await db.commit()
    audit.record(audit.LOGIN_SUCCESS, user_id=user.id, client=client, session_id=str(issued.session_id))
    return _token_pair(tokens, user, issued)


@router.post("/refresh", response_model=TokenPair, openapi_extra=PUBLIC)
async def refresh(
    body: RefreshIn,
    db: DbSession,
    tokens: TokensDep,
    limiter: RateLimiterDep,
    client: ClientAddress,
) -> TokenPair:
    try:
        await limiter.hit(limiter.limits.refresh, "refresh", client)
    except RateLimitExceededError as exc:
        raise rate_limited(exc, client) from None
    try:
        rotated = await rotate(db, body.refresh_token)
    except RefreshTokenReusedError as reuse:
        await db.commit()
        audit.record(audit.SESSION_REPLAYED, user_id=reuse.user_id, client=client, session_id=str(reuse.session_id))
        raise INVALID_REFRESH from None
    if rotated is None:
        raise INVALID_REFRESH
    user, issued = rotated
    await db.commit()
    audit.record(audit.SESSION_REFRESHED, user_id=user.id, client=client, session_id=str(issued.session_id))
    return _token_pair(tokens, user, issued)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: CurrentPrincipal, db: DbSession, client: ClientAddress, body: LogoutIn | None = None
) -> Response:
    await revoke_session(db, principal.session_id)
    if body is not None and body.refresh_token:
        await revoke_refresh_family(db, principal.user.id, body.refresh_token)
    await db.commit()
    audit.record(audit.LOGOUT, user_id=principal.user.id, client=client, session_id=str(principal.session_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Clear-Site-Data": CLEAR_SITE_DATA})


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_all(principal: CurrentPrincipal, db: DbSession, client: ClientAddress) -> Response:
    await revoke_user_sessions(db, principal.user.id)
    await db.commit()
    audit.record(audit.LOGOUT_ALL, user_id=principal.user.id, client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Clear-Site-Data": CLEAR_SITE_DATA})
