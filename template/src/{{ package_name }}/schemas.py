"""Request and response bodies. Inputs forbid unknown fields, so privileged ones cannot be slipped in."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .security.emails import EmailAddress
from .security.password_policy import MAX_PASSWORD_LENGTH


def _no_nul(value: str) -> str:
    if "\x00" in value:
        msg = "must not contain NUL characters"
        raise ValueError(msg)
    return value


# For every string that is stored or looked up: PostgreSQL cannot hold NUL in text, so every database refuses it (422).
NoNul = AfterValidator(_no_nul)

Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
Description = Annotated[str, Field(max_length=2000), NoNul]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NoNul]
# A TOTP code (6 digits) or a recovery code (20 hex digits, dashes and spaces allowed).
MfaCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), NoNul]


class StrictInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterIn(StrictInput):
    email: EmailAddress  # one spelling per address, as login and every lookup spell it (security/emails.py)
    password: Password


class RefreshIn(StrictInput):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class LogoutIn(StrictInput):
    refresh_token: Annotated[str | None, Field(max_length=512)] = None


class PasswordChangeIn(StrictInput):
    current_password: Password
    new_password: Password
    code: MfaCode | None = None  # required when the account has MFA (step-up)


class MfaLoginIn(StrictInput):
    mfa_token: Annotated[str, Field(min_length=1, max_length=4096)]
    code: MfaCode


class MfaConfirmIn(StrictInput):
    code: MfaCode


class MfaDisableIn(StrictInput):
    password: Password
    code: MfaCode


class UserUpdateIn(StrictInput):
    full_name: FullName | None = None


class AdminUserUpdateIn(StrictInput):
    is_active: bool


OneTimeToken = Annotated[str, Field(min_length=1, max_length=128), NoNul]


class EmailIn(StrictInput):
    """An address to mail (a reset, a new verification link): the answer is the same whether an account has it."""

    email: EmailAddress


class PasswordResetConfirmIn(StrictInput):
    token: OneTimeToken
    new_password: Password


class VerifyEmailIn(StrictInput):
    token: OneTimeToken


class EmailChangeIn(StrictInput):
    new_email: EmailAddress
    password: Password
    code: MfaCode | None = None  # required when the account has MFA (step-up)


class AcceptedOut(BaseModel):
    """A request taken: what it leads to is mailed, and never told here."""

    detail: str


class ItemCreateIn(StrictInput):
    title: Title
    description: Description = ""


class ItemUpdateIn(StrictInput):
    title: Title | None = None
    description: Description | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    is_active: bool
    is_admin: bool
    created_at: datetime


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    description: str
    owner_id: uuid.UUID
    created_at: datetime


class MfaChallengeOut(BaseModel):
    """A right password of an MFA account: bring `mfa_token` and a code to POST /auth/login/mfa."""

    mfa_required: Literal[True] = True
    mfa_token: str
    expires_in: int


class TotpEnrollmentOut(BaseModel):
    """Shown once: the secret, as an otpauth URI and as a QR code of it (SVG)."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodesOut(BaseModel):
    """Shown once; each works once, in place of a TOTP code."""

    recovery_codes: list[str]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = Field(default="bearer")
    expires_in: int
