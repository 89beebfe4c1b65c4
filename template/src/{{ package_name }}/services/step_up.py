"""Step-up: the recent authentication that sensitive changes ask for (password, email, disabling MFA).

An access token alone is not enough for them: a token copied from a browser would be. So the route asks again for
the current password, checked in the same budgets as a login (E08: a stolen token is no way around the account's
guessing brake), and for an account with MFA a code as well (TOTP or recovery code, in the account's
RATE_LIMIT_MFA window). Every route that needs it calls `StepUp.confirm`, or makes its change inside
`StepUp.confirmed` when changes sent at once must see each other (the password).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..models import User
from ..observability.audit import AuditEvent
from ..security.rate_limit import RateLimiter
from .accounts import AccountService, WrongPasswordError
from .mfa import MfaService


class StepUp:
    def __init__(self, accounts: AccountService, mfa: MfaService, limiter: RateLimiter) -> None:
        self.accounts = accounts
        self.mfa = mfa
        self.limiter = limiter

    async def confirm(
        self, user: User, password: str, code: str | None, device_token: str | None, *, failure: AuditEvent
    ) -> None:
        """The password, then the code of an MFA account; a wrong password is logged as `failure`.

        Raises WrongPasswordError, CodeRequiredError or InvalidCodeError (all answered with 400), or a rate limit's.
        """
        async with self.confirmed(user, password, code, device_token, failure=failure):
            pass

    @asynccontextmanager
    async def confirmed(
        self, user: User, password: str, code: str | None, device_token: str | None, *, failure: AuditEvent
    ) -> AsyncIterator[None]:
        """`confirm`, with the change made in the block while the account's password check is still held: changes
        sent at once are made one after the other, each checked against the password as the one before left it."""
        db = self.accounts.db
        # End the token check's read-only transaction: a check waiting for its account's turn holds no connection.
        await db.commit()
        async with await self.limiter.start_password_check(self.accounts.client, user.email, device_token) as check:
            # The hash as it is now, not as it was before this check waited: a change made meanwhile counts.
            await db.refresh(user)
            try:
                await self.accounts.confirm_password(user, password, failure=failure)
            except WrongPasswordError:
                check.failed()
                raise
            check.succeeded()
            await self.mfa.step_up(user, code)
            yield
