"""Account recovery: password reset, email verification and email change, by mailed one-time tokens.

The requests that name an address (a reset, a new verification link) run after their answer has been sent
(`api/routes/recovery.py`): whether the account exists changes neither the answer nor its timing. The steps that
take a token check everything that needs no token first (the token's row, the account, the password policy, a free
address), then use the token in the transaction of the change it allows: a token refused for a weak password or a
taken address can be used again, and of two concurrent uses exactly one succeeds (`security/one_time_tokens.py`).
"""

from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..models import OneTimeToken, User, utcnow
from ..observability.audit import AuditEvent, record
from ..security import one_time_tokens
from ..security.one_time_tokens import Purpose
from .account_mail import AccountMail
from .accounts import AccountService, EmailTakenError


class TokenRefusedError(Exception):
    """The token is unknown, used, expired or of another purpose, or its account is disabled."""


class RecoveryService:
    """The recovery steps of one unit of work (the session and client of `accounts`)."""

    def __init__(self, accounts: AccountService, mail: AccountMail) -> None:
        self.accounts = accounts
        self.db = accounts.db
        self.mail = mail

    async def request_reset(self, email: str, account_hash: str) -> None:
        """Mail a reset link if an active account has this address; either way, one audit event."""
        user = await self._active_user(email)
        if user is not None:
            await self.mail.password_reset(self.db, user)
            await self.db.commit()
            self.mail.committed()
        record(
            AuditEvent.AUTHN_PASSWORD_RESET_REQUESTED,
            user_id=user.id if user else None,
            client=self.accounts.client,
            account_hash=account_hash,
        )

    async def complete_reset(self, token: str, new_password: str) -> None:
        """The new password for the token's account: the policy first, then the token is used, every session
        ended and a notice mailed. A reset also proves that the owner reads the account's mail."""
        row = await one_time_tokens.peek(self.db, token, {Purpose.PASSWORD_RESET})
        user = await self._token_user(row, AuditEvent.AUTHN_PASSWORD_RESET_FAIL)
        self.accounts.check_new_password(user, new_password)
        if await one_time_tokens.redeem(self.db, token, {Purpose.PASSWORD_RESET}) is None:
            await self._refuse(AuditEvent.AUTHN_PASSWORD_RESET_FAIL)
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
        await self.accounts.set_password(user, new_password)
        record(AuditEvent.AUTHN_PASSWORD_RESET, user_id=user.id, client=self.accounts.client)

    async def request_verification(self, email: str, account_hash: str) -> None:
        """Mail a new verification link if an active account with this address is not verified yet."""
        user = await self._active_user(email)
        if user is not None and user.email_verified_at is None:
            await self.mail.verification(self.db, user)
            await self.db.commit()
            self.mail.committed()
        record(
            AuditEvent.USER_EMAIL_VERIFICATION_REQUESTED,
            user_id=user.id if user else None,
            client=self.accounts.client,
            account_hash=account_hash,
        )

    async def verify(self, token: str) -> None:
        """Follow a verification link: the account's address is verified, or an email change takes effect."""
        purposes = {Purpose.EMAIL_VERIFICATION, Purpose.EMAIL_CHANGE}
        row = await one_time_tokens.peek(self.db, token, purposes)
        user = await self._token_user(row, AuditEvent.USER_EMAIL_VERIFICATION_FAIL)
        new_email = row.new_email if row is not None else None
        if new_email is not None and await self._taken(new_email):
            raise EmailTakenError
        if await one_time_tokens.redeem(self.db, token, purposes) is None:
            await self._refuse(AuditEvent.USER_EMAIL_VERIFICATION_FAIL)
        if new_email is None:
            user.email_verified_at = user.email_verified_at or utcnow()
            await self.db.commit()
            record(AuditEvent.USER_EMAIL_VERIFIED, user_id=user.id, client=self.accounts.client)
            return
        old_email, user.email, user.email_verified_at = user.email, new_email, utcnow()
        # Links mailed to the old address, and other changes asked for, end with it.
        await one_time_tokens.void(self.db, user.id, Purpose.PASSWORD_RESET, Purpose.EMAIL_CHANGE)
        self.mail.email_changed(self.db, old_email)
        try:
            await self.db.commit()
        except IntegrityError:
            await self.db.rollback()
            raise EmailTakenError from None
        self.mail.committed()
        record(AuditEvent.USER_EMAIL_CHANGED, user_id=user.id, client=self.accounts.client)

    async def request_email_change(self, user: User, new_email: str) -> None:
        """Mail a link to `new_email` (after step-up). A taken address gets nothing, and the answer is the same."""
        if new_email != user.email and not await self._taken(new_email):
            await self.mail.email_change(self.db, user, new_email)
            await self.db.commit()
            self.mail.committed()
        record(AuditEvent.USER_EMAIL_CHANGE_REQUESTED, user_id=user.id, client=self.accounts.client)

    async def _active_user(self, email: str) -> User | None:
        user = await self.db.scalar(select(User).where(User.email == email))
        return user if user is not None and user.is_active else None

    async def _taken(self, email: str) -> bool:
        return await self.db.scalar(select(User.id).where(User.email == email)) is not None

    async def _token_user(self, row: OneTimeToken | None, failure: AuditEvent) -> User:
        user = await self.db.get(User, row.user_id) if row is not None else None
        if user is None or not user.is_active:
            await self._refuse(failure)
        return user

    async def _refuse(self, failure: AuditEvent) -> NoReturn:
        await self.db.rollback()
        record(failure, client=self.accounts.client)
        raise TokenRefusedError
