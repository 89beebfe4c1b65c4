"""Accounts: register, authenticate, change a password, create an admin, enable or disable a user.

Routes and the CLI call these, so every rule (password policy, hashing, audit events, session revocation) applies
the same way whoever asks. Errors are domain exceptions; `api/errors.py` turns them into HTTP answers.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import User, utcnow
from ..observability.audit import AuditEvent, record
from ..security import one_time_tokens
from ..security.emails import email_for_lookup
from ..security.password_policy import password_problem
from ..security.passwords import PasswordHasher
from ..security.sessions import revoke_user_sessions
from ..settings.defaults import PROJECT_NAME
from .account_mail import AccountMail


class EmailTakenError(Exception):
    """An account with this email exists already."""


class PasswordRejectedError(Exception):
    """The password policy refuses a new password; `field` names the input it came from."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class WrongPasswordError(Exception):
    """The current password given to confirm a change is not the account's."""


class UserNotFoundError(Exception):
    pass


class SelfLockoutError(Exception):
    """An admin tried to disable their own account."""


class AccountService:
    """The account steps for one unit of work: `client` is who asks, for the audit log; `service_name` is a word
    no password may be based on. Every email is looked up in its one spelling (`security/emails.py`).

    `mail` writes the mails of the steps (verification at registration, the notice of a password change) to the
    outbox; the CLI has none, and creates only admins, whose address the operator vouches for."""

    def __init__(
        self,
        db: AsyncSession,
        passwords: PasswordHasher,
        min_length: int,
        client: str,
        *,
        service_name: str = PROJECT_NAME,
        mail: AccountMail | None = None,
    ) -> None:
        self.db = db
        self.passwords = passwords
        self.min_length = min_length
        self.client = client
        self.service_name = service_name
        self.mail = mail

    async def register(self, email: str, password: str, *, is_admin: bool = False) -> User:
        email = email_for_lookup(email)
        self._check_policy("password", password, email)
        if await self.db.scalar(select(User.id).where(User.email == email)) is not None:
            raise EmailTakenError
        hashed = await self.passwords.hash(password)
        verified_at = utcnow() if is_admin else None
        user = User(email=email, hashed_password=hashed, is_admin=is_admin, email_verified_at=verified_at)
        self.db.add(user)
        if self.mail is not None and not is_admin:
            await self.db.flush()
            await self.mail.verification(self.db, user)  # the link, in the transaction that makes the account
        try:
            await self.db.commit()
        except IntegrityError:
            raise EmailTakenError from None
        if self.mail is not None:
            self.mail.committed()
        event = AuditEvent.AUTHZ_ADMIN_CREATED if is_admin else AuditEvent.USER_CREATED
        record(event, user_id=user.id, client=self.client)
        return user

    async def authenticate(self, email: str, password: str, *, account_hash: str) -> User | None:
        """The active user with this email and password, or None; unknown emails cost the same hashing work.

        A failure is logged with `account_hash`, the keyed hash of the email (`AccountKeys`), whether the account
        exists or not: guesses spread over many names show as many hashes, and match the throttle events.

        A stored hash in an older algorithm or with weaker parameters is rewritten (committed with the caller's
        next commit).
        """
        email = email_for_lookup(email)
        user = await self.db.scalar(select(User).where(User.email == email))
        if user is None:
            await self.passwords.dummy_verify(password)
            valid, new_hash = False, None
        else:
            valid, new_hash = await self.passwords.verify_and_update(password, user.hashed_password)
        if user is None or not valid or not user.is_active:
            user_id = user.id if user else None
            record(AuditEvent.AUTHN_LOGIN_FAIL, user_id=user_id, client=self.client, account_hash=account_hash)
            return None
        if new_hash is not None:
            user.hashed_password = new_hash
        return user

    async def change_password(self, user: User, current: str, new: str, *, keep_session: uuid.UUID) -> None:
        """Check the current password, apply the policy to the new one, and end every other session."""
        await self.confirm_password(user, current, failure=AuditEvent.AUTHN_PASSWORD_CHANGE_FAIL)
        await self.set_password(user, new, keep_session=keep_session)

    async def confirm_password(self, user: User, password: str, *, failure: AuditEvent) -> None:
        """The account's current password, before a change that needs it; a wrong one is logged as `failure`."""
        valid, _ = await self.passwords.verify_and_update(password, user.hashed_password)
        if not valid:
            record(failure, user_id=user.id, client=self.client)
            raise WrongPasswordError

    async def set_password(self, user: User, new: str, *, keep_session: uuid.UUID | None = None) -> None:
        """Every password change ends here: the policy, a new hash, every session but `keep_session` ended, every
        outstanding reset link void, and a notice mailed to the account."""
        self._check_policy("new_password", new, user.email)
        user.hashed_password = await self.passwords.hash(new)
        await revoke_user_sessions(self.db, user.id, keep=keep_session)
        await one_time_tokens.void(self.db, user.id, one_time_tokens.Purpose.PASSWORD_RESET)
        if self.mail is not None:
            self.mail.password_changed(self.db, user)
        await self.db.commit()
        if self.mail is not None:
            self.mail.committed()
        record(AuditEvent.AUTHN_PASSWORD_CHANGE, user_id=user.id, client=self.client)

    def check_new_password(self, user: User, new: str) -> None:
        """The policy alone, before a step that must spend nothing (a reset token) on a password it refuses."""
        self._check_policy("new_password", new, user.email)

    async def set_active(self, admin: User, user_id: uuid.UUID, *, active: bool) -> User:
        """Enable or disable an account; disabling ends every session of it at once."""
        user = await self.db.get(User, user_id)
        if user is None:
            raise UserNotFoundError
        if user.id == admin.id and not active:
            raise SelfLockoutError
        user.is_active = active
        if not active:
            await revoke_user_sessions(self.db, user.id)
        await self.db.commit()
        record(
            AuditEvent.AUTHZ_ADMIN_USER_UPDATE,
            user_id=admin.id,
            client=self.client,
            target=str(user.id),
            is_active=active,
        )
        return user

    def _check_policy(self, field: str, password: str, email: str) -> None:
        """Before any hashing: the policy, with the account's email and the service's name as context words."""
        if problem := password_problem(password, self.min_length, context=(email, self.service_name)):
            raise PasswordRejectedError(field, problem)
