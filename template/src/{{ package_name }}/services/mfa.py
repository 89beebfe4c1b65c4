"""TOTP multi-factor authentication: enrol, confirm, check a code, disable.

Enrolment makes a secret and shows it once (as an otpauth URI and its QR code); nothing changes for the account
until a code from it is confirmed, which also issues the recovery codes and ends the account's other sessions.
From then on the login's second step and every step-up (`step_up.py`) take a TOTP code or a recovery code, each
counted in the account's RATE_LIMIT_MFA window before it is checked. Each step is an audit event, and each audit
event of MFA moves its series of `security_mfa_events` (observability/metrics.py).
"""

import uuid
from dataclasses import dataclass
from typing import Literal

import structlog
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import MfaRecoveryCode, MfaTotpCredential, User, utcnow
from ..observability.audit import AuditEvent, record
from ..security import recovery_codes, totp
from ..security.rate_limit import RateLimiter
from ..security.secret_box import SecretBox, SecretBoxError
from ..security.sessions import revoke_user_sessions
from .account_mail import AccountMail

_log = structlog.stdlib.get_logger("mfa")

# The rate-limit window of second-factor attempts, keyed by the account's id (its hex digits, never an address).
MFA_WINDOW = "mfa_account"

Method = Literal["totp", "recovery_code"]


class MfaAlreadyEnabledError(Exception):
    """The account has a confirmed authenticator: disable it first to enrol another."""


class NoPendingEnrollmentError(Exception):
    """A confirmation without an enrolment started (or after it was confirmed)."""


class CodeRequiredError(Exception):
    """The account has MFA, and the step-up came without a code."""


class InvalidCodeError(Exception):
    """The code is not the account's: wrong, of a time step already used, or a used recovery code."""


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What enrolment shows once: the secret, as an otpauth URI and as a QR code of it."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class MfaService:
    """The MFA steps for one unit of work: `client` is who asks (audit log), `issuer` the name apps show."""

    def __init__(
        self, db: AsyncSession, box: SecretBox, limiter: RateLimiter, client: str, *, issuer: str, mail: AccountMail
    ) -> None:
        self.db = db
        self.box = box
        self.limiter = limiter
        self.client = client
        self.issuer = issuer
        self.mail = mail

    async def is_enabled(self, user_id: uuid.UUID) -> bool:
        return await self._active(user_id) is not None

    async def start_enrollment(self, user: User) -> Enrollment:
        """A new secret for the account, replacing any enrolment not confirmed yet; MFA is not on before `confirm`."""
        credential = await self.db.scalar(select(MfaTotpCredential).where(MfaTotpCredential.user_id == user.id))
        if credential is not None and credential.confirmed_at is not None:
            raise MfaAlreadyEnabledError
        secret = totp.new_secret()
        if credential is None:
            self.db.add(MfaTotpCredential(user_id=user.id, encrypted_secret=self.box.seal(secret)))
        else:
            credential.encrypted_secret = self.box.seal(secret)
            credential.created_at = utcnow()
            credential.last_used_step = None
        try:
            await self.db.commit()
        except IntegrityError:  # another enrolment of the account, at the same moment
            raise MfaAlreadyEnabledError from None
        record(AuditEvent.AUTHN_MFA_ENROLLMENT_STARTED, user_id=user.id, client=self.client)
        uri = totp.provisioning_uri(secret, user.email, self.issuer)
        return Enrollment(secret, uri, totp.qr_svg(uri))

    async def confirm_enrollment(self, user: User, code: str, *, keep_session: uuid.UUID) -> list[str]:
        """Turn MFA on with a code of the new secret: the recovery codes (shown once), every other session ended."""
        credential = await self.db.scalar(
            select(MfaTotpCredential).where(
                MfaTotpCredential.user_id == user.id, MfaTotpCredential.confirmed_at.is_(None)
            )
        )
        if credential is None:
            raise NoPendingEnrollmentError
        await self._count_attempt(user)
        if await self._totp_matches(user, credential, code) is None:
            raise InvalidCodeError
        credential.confirmed_at = utcnow()
        codes = recovery_codes.new_codes()
        await self.db.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
        self.db.add_all(recovery_codes.rows_for(user.id, codes))
        await revoke_user_sessions(self.db, user.id, keep=keep_session)
        # Enrolment asks for no password: should a stolen token have done it, the owner hears of it at once.
        self.mail.mfa_enabled(self.db, user)
        await self.db.commit()
        self.mail.committed()
        record(AuditEvent.AUTHN_MFA_ENABLED, user_id=user.id, client=self.client)
        return codes

    async def verify(self, user: User, code: str) -> Method:
        """Accept a TOTP code (once per time step) or an unused recovery code of the account, and commit its use."""
        credential = await self._active(user.id)
        if credential is None:
            raise InvalidCodeError
        await self._count_attempt(user)
        method: Method | None = None
        if recovery_codes.normalise(code) is not None:
            if await recovery_codes.claim(self.db, user.id, code):
                method = "recovery_code"
            else:
                record(AuditEvent.AUTHN_MFA_FAIL, user_id=user.id, client=self.client, reason="wrong_recovery_code")
        elif await self._totp_matches(user, credential, code) is not None:
            method = "totp"
        if method is None:
            raise InvalidCodeError
        await self.db.commit()
        if method == "recovery_code":
            left = await self._recovery_codes_left(user.id)
            record(AuditEvent.AUTHN_MFA_RECOVERY_CODE_USED, user_id=user.id, client=self.client, codes_left=left)
        record(AuditEvent.AUTHN_MFA_SUCCESS, user_id=user.id, client=self.client, method=method)
        return method

    async def step_up(self, user: User, code: str | None) -> None:
        """For an account with MFA, a code on top of the password; nothing for one without."""
        if await self._active(user.id) is None:
            return
        if not code:
            record(AuditEvent.AUTHN_MFA_FAIL, user_id=user.id, client=self.client, reason="code_missing")
            raise CodeRequiredError
        await self.verify(user, code)

    async def disable(self, user: User, *, keep_session: uuid.UUID) -> None:
        """Remove the authenticator and the recovery codes (after a step-up); every other session ends."""
        await self.db.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
        await self.db.execute(delete(MfaTotpCredential).where(MfaTotpCredential.user_id == user.id))
        await revoke_user_sessions(self.db, user.id, keep=keep_session)
        self.mail.mfa_disabled(self.db, user)
        await self.db.commit()
        self.mail.committed()
        record(AuditEvent.AUTHN_MFA_DISABLED, user_id=user.id, client=self.client)

    async def _active(self, user_id: uuid.UUID) -> MfaTotpCredential | None:
        return await self.db.scalar(
            select(MfaTotpCredential).where(
                MfaTotpCredential.user_id == user_id, MfaTotpCredential.confirmed_at.is_not(None)
            )
        )

    async def _count_attempt(self, user: User) -> None:
        """Take a slot of the account's window, whatever the code: 429 once it is full (RateLimitExceededError)."""
        await self.limiter.hit(self.limiter.limits.mfa, MFA_WINDOW, user.id.hex)

    async def _totp_matches(self, user: User, credential: MfaTotpCredential, code: str) -> int | None:
        """The time step of a right code not used before, claimed for it; None (logged) otherwise.

        A secret stored under an earlier key is stored again under the current one (committed with the use).
        """
        try:
            opened = self.box.open(credential.encrypted_secret)
        except SecretBoxError:
            # The key it was sealed with is gone from the ring: only a recovery code can pass until it is back.
            _log.error("mfa_secret_unreadable", user_id=str(user.id))
            record(AuditEvent.AUTHN_MFA_FAIL, user_id=user.id, client=self.client, reason="secret_unreadable")
            return None
        step = totp.matching_step(opened.plaintext, code)
        if step is not None and await totp.claim_step(self.db, credential.id, step):
            if opened.reencrypted is not None:
                credential.encrypted_secret = opened.reencrypted
            return step
        reason = "wrong_code" if step is None else "replayed_code"
        record(AuditEvent.AUTHN_MFA_FAIL, user_id=user.id, client=self.client, reason=reason)
        return None

    async def _recovery_codes_left(self, user_id: uuid.UUID) -> int:
        unused = select(MfaRecoveryCode.id).where(MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None))
        return len((await self.db.scalars(unused)).all())
