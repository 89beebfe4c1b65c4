"""Password reset, email verification and email change (`services/recovery.py`).

A request that names an address answers 202 with one body whatever the address, after counting it in the
client's window and in the address's window (keyed by the address asked about, known or not). Nothing about the
account is looked up before the answer: the lookup, the token and the mail happen in a background task that runs
once the response has been sent, so the answer and its timing are the same for every address (R01).
"""

from collections.abc import Awaitable, Callable
from typing import Literal

import structlog
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response, status
from starlette.datastructures import State

from ...observability.audit import AuditEvent
from ...schemas import AcceptedOut, EmailChangeIn, EmailIn, PasswordResetConfirmIn, VerifyEmailIn
from ...security.device_tokens import AccountKeys
from ...security.rate_limit import RateLimiter
from ...services.recovery import RecoveryService, TokenRefusedError
from ..deps import PUBLIC, Accounts, ClientAddress, CurrentPrincipal, RateLimiterDep, StepUpDep, accounts_for
from ..device_tokens import DeviceTokenCookie
from ..responses import error, errors

router = APIRouter(tags=["recovery"])

_log = structlog.stdlib.get_logger("recovery")

RESET_ACCEPTED = AcceptedOut(detail="If an account uses this address, a link to reset its password is on its way.")
VERIFICATION_ACCEPTED = AcceptedOut(detail="If an unverified account uses this address, a new link is on its way.")
EMAIL_CHANGE_ACCEPTED = AcceptedOut(detail="A link to confirm the change is on its way to the new address.")
INVALID_TOKEN = HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail="Invalid or expired token.")
INVALID_TOKEN_ANSWER = error(400, "The token is unknown, used or expired, or its account is disabled.")

# A step of RecoveryService taken for an address after the answer: (service, address, keyed hash of the address).
AddressStep = Callable[[RecoveryService, str, str], Awaitable[None]]


async def _accept(
    request: Request,
    background: BackgroundTasks,
    limiter: RateLimiter,
    client: str,
    email: str,
    scope: Literal["password_reset", "verification_resend"],
    step: AddressStep,
) -> None:
    """Count the request in the client's `scope` window and in the address's (429 when either is full), then leave
    `step` for after the answer: whatever the address, nothing about it is looked up before the client has its 202."""
    state = request.app.state
    account_hash = AccountKeys(state.settings.secret_key.get_secret_value().encode()).of(email)
    limits = limiter.limits
    per_client, per_address = {
        "password_reset": (limits.password_reset, limits.password_reset_account),
        "verification_resend": (limits.verification_resend, limits.verification_resend),
    }[scope]
    await limiter.hit(per_client, scope, client)
    await limiter.hit(per_address, f"{scope}_account", account_hash)
    background.add_task(_after_response, state, client, step, email, account_hash)


async def _after_response(state: State, client: str, step: AddressStep, email: str, account_hash: str) -> None:
    """Take `step` in a session of its own; the client has its answer already, so a failure is only logged."""
    try:
        async with state.sessionmaker() as db:
            await step(RecoveryService(accounts_for(state, db, client), state.account_mail), email, account_hash)
    except Exception as exc:  # noqa: BLE001  (the answer is sent: all there is left to do is to say why)
        _log.warning("recovery_request_failed", error=type(exc).__name__)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    openapi_extra=PUBLIC,
    responses=errors(429),
)
async def request_password_reset(
    body: EmailIn, request: Request, background: BackgroundTasks, limiter: RateLimiterDep, client: ClientAddress
) -> AcceptedOut:
    await _accept(request, background, limiter, client, body.email, "password_reset", RecoveryService.request_reset)
    return RESET_ACCEPTED


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra=PUBLIC,
    responses={400: INVALID_TOKEN_ANSWER},
)
async def confirm_password_reset(body: PasswordResetConfirmIn, request: Request, accounts: Accounts) -> Response:
    try:
        await RecoveryService(accounts, request.app.state.account_mail).complete_reset(body.token, body.new_password)
    except TokenRefusedError:
        raise INVALID_TOKEN from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/verify-email",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra=PUBLIC,
    responses={400: INVALID_TOKEN_ANSWER, 409: error(409, "The new address of an email change has an account by now.")},
)
async def verify_email(body: VerifyEmailIn, request: Request, accounts: Accounts) -> Response:
    try:
        await RecoveryService(accounts, request.app.state.account_mail).verify(body.token)
    except TokenRefusedError:
        raise INVALID_TOKEN from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    openapi_extra=PUBLIC,
    responses=errors(429),
)
async def resend_verification(
    body: EmailIn, request: Request, background: BackgroundTasks, limiter: RateLimiterDep, client: ClientAddress
) -> AcceptedOut:
    await _accept(
        request, background, limiter, client, body.email, "verification_resend", RecoveryService.request_verification
    )
    return VERIFICATION_ACCEPTED


@router.post(
    "/users/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    responses={
        **errors(429),
        400: error(400, "The password (or, for an MFA account, the code) is wrong or missing."),
    },
)
async def change_email(
    body: EmailChangeIn,
    principal: CurrentPrincipal,
    accounts: Accounts,
    step_up: StepUpDep,
    request: Request,
    device_token: DeviceTokenCookie = None,
) -> AcceptedOut:
    """The account keeps its address until the link mailed to the new one is followed (POST /auth/verify-email)."""
    user = principal.user
    failure = AuditEvent.USER_EMAIL_CHANGE_FAIL
    async with step_up.confirmed(user, body.password, body.code, device_token, failure=failure):
        await RecoveryService(accounts, request.app.state.account_mail).request_email_change(user, body.new_email)
    return EMAIL_CHANGE_ACCEPTED
