"""TOTP MFA: enrol and confirm, disable with a step-up, and the second step of a login."""

from fastapi import APIRouter, HTTPException, Response, status

from ...models import User
from ...observability.audit import AuditEvent
from ...schemas import MfaConfirmIn, MfaDisableIn, MfaLoginIn, RecoveryCodesOut, TokenPair, TotpEnrollmentOut
from ...security.mfa_challenge import InvalidChallengeError
from ...services.mfa import InvalidCodeError, MfaAlreadyEnabledError, NoPendingEnrollmentError
from ..deps import PUBLIC, CurrentPrincipal, CurrentUser, Mfa, MfaChallengesDep, SettingsDep, StepUpDep, TokensDep
from ..device_tokens import DeviceTokenCookie
from ..login import log_in
from ..responses import error, errors

router = APIRouter(tags=["mfa"])

MFA_LOGIN_FAILED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="The MFA challenge or the code is not valid.",
    headers={"WWW-Authenticate": "Bearer"},
)


@router.post(
    "/auth/login/mfa",
    response_model=TokenPair,
    openapi_extra=PUBLIC,
    responses={
        **errors(429),
        401: error(401, "The challenge is unknown or expired, or the code is wrong or used: one answer for all."),
    },
)
async def login_mfa(
    body: MfaLoginIn, mfa: Mfa, challenges: MfaChallengesDep, tokens: TokensDep, settings: SettingsDep
) -> TokenPair:
    """The second step of an MFA account's login: the challenge of POST /auth/login, and a TOTP or recovery code."""
    try:
        user_id, fingerprint = challenges.user_of(body.mfa_token)
    except InvalidChallengeError:
        raise MFA_LOGIN_FAILED from None
    user = await mfa.db.get(User, user_id)
    # A password changed since the challenge was issued voids it (its fingerprint is of the old hash).
    if user is None or not user.is_active or not challenges.matches(fingerprint, user.hashed_password):
        raise MFA_LOGIN_FAILED
    try:
        method = await mfa.verify(user, body.code)
    except InvalidCodeError:
        raise MFA_LOGIN_FAILED from None
    return await log_in(mfa.db, tokens, user, settings.refresh_token_ttl_seconds, mfa.client, mfa=method)


@router.post(
    "/users/me/mfa/totp",
    response_model=TotpEnrollmentOut,
    responses={409: error(409, "MFA is on already: disable it first to enrol another authenticator.")},
)
async def start_totp_enrollment(user: CurrentUser, mfa: Mfa) -> TotpEnrollmentOut:
    """A new TOTP secret, shown this once; MFA is on only once a code of it is confirmed."""
    try:
        enrollment = await mfa.start_enrollment(user)
    except MfaAlreadyEnabledError:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="MFA is already enabled.") from None
    return TotpEnrollmentOut(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri, qr_svg=enrollment.qr_svg)


@router.post(
    "/users/me/mfa/totp/confirm",
    response_model=RecoveryCodesOut,
    responses={
        **errors(429),
        400: error(400, "The code is not one of the new secret's."),
        409: error(409, "No enrolment is waiting for a code."),
    },
)
async def confirm_totp_enrollment(body: MfaConfirmIn, principal: CurrentPrincipal, mfa: Mfa) -> RecoveryCodesOut:
    """Turn MFA on with a code of the new secret: the recovery codes, shown this once; other sessions end."""
    try:
        codes = await mfa.confirm_enrollment(principal.user, body.code, keep_session=principal.session_id)
    except NoPendingEnrollmentError:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="No MFA enrolment to confirm.") from None
    return RecoveryCodesOut(recovery_codes=codes)


@router.delete(
    "/users/me/mfa/totp",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **errors(429),
        400: error(400, "The password or the code is wrong, or the request cannot be taken (Host header, body)."),
        409: error(409, "MFA is not on for this account."),
    },
)
async def disable_totp(
    body: MfaDisableIn,
    principal: CurrentPrincipal,
    mfa: Mfa,
    step_up: StepUpDep,
    device_token: DeviceTokenCookie = None,
) -> Response:
    """Turn MFA off, after a step-up (M04): the password and a code; other sessions end."""
    user = principal.user
    if not await mfa.is_enabled(user.id):
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="MFA is not enabled.")
    await step_up.confirm(user, body.password, body.code, device_token, failure=AuditEvent.AUTHN_MFA_FAIL)
    await mfa.disable(user, keep_session=principal.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
