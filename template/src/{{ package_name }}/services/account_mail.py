"""The mails of the account steps: each token and its message are written in the caller's transaction.

A link exists in the outbox exactly when its token exists in the database; `committed()` then wakes this process's
sender (`mail/delivery.py`), which sends it at once, or as soon as the SMTP server answers again.
"""

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from ..mail.messages import Messages
from ..mail.outbox import Outbox
from ..models import User
from ..security import one_time_tokens
from ..security.one_time_tokens import Purpose
from ..settings import Settings


class AccountMail:
    def __init__(self, outbox: Outbox, messages: Messages, *, reset_ttl: int, verification_ttl: int) -> None:
        self.outbox = outbox
        self.messages = messages
        self.reset_ttl = reset_ttl
        self.verification_ttl = verification_ttl

    @classmethod
    def from_settings(cls, settings: Settings, outbox: Outbox) -> Self:
        return cls(
            outbox,
            Messages(settings.project_name, settings.public_base_url),
            reset_ttl=settings.password_reset_ttl_seconds,
            verification_ttl=settings.email_verification_ttl_seconds,
        )

    async def verification(self, db: AsyncSession, user: User) -> None:
        """A new verification link for the account's address; earlier ones stop working."""
        await one_time_tokens.void(db, user.id, Purpose.EMAIL_VERIFICATION)
        token = await one_time_tokens.issue(db, user.id, Purpose.EMAIL_VERIFICATION, self.verification_ttl)
        self.outbox.add(db, self.messages.verify_email(user.email, token, self.verification_ttl))

    async def password_reset(self, db: AsyncSession, user: User) -> None:
        """A reset link; earlier ones stay valid until used, expired or voided by a password change."""
        token = await one_time_tokens.issue(db, user.id, Purpose.PASSWORD_RESET, self.reset_ttl)
        self.outbox.add(db, self.messages.password_reset(user.email, token, self.reset_ttl))

    async def email_change(self, db: AsyncSession, user: User, new_email: str) -> None:
        """A link to the new address; the account keeps its address until it is followed."""
        await one_time_tokens.void(db, user.id, Purpose.EMAIL_CHANGE)
        token = await one_time_tokens.issue(
            db, user.id, Purpose.EMAIL_CHANGE, self.verification_ttl, new_email=new_email
        )
        self.outbox.add(db, self.messages.confirm_new_email(new_email, token, self.verification_ttl))

    def password_changed(self, db: AsyncSession, user: User) -> None:
        self.outbox.add(db, self.messages.password_changed(user.email))

    def email_changed(self, db: AsyncSession, old_email: str) -> None:
        self.outbox.add(db, self.messages.email_changed(old_email))

    def mfa_enabled(self, db: AsyncSession, user: User) -> None:
        self.outbox.add(db, self.messages.mfa_enabled(user.email))

    def mfa_disabled(self, db: AsyncSession, user: User) -> None:
        self.outbox.add(db, self.messages.mfa_disabled(user.email))

    def committed(self) -> None:
        """Call after the commit that wrote mails: this process's sender looks at once."""
        self.outbox.wake()
