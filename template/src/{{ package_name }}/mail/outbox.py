"""The outbox: mails are rows written in the caller's transaction, beside the token they carry.

So a mail exists if and only if its token does: a rolled-back request sends nothing, and a committed one is sent
even when the SMTP server is down at the time (`delivery.py` retries). `wake()` tells this process's sender to look
at once instead of at its next poll; other replicas find the row when they poll.
"""

import asyncio
from contextlib import suppress

from sqlalchemy.ext.asyncio import AsyncSession

from ..models import OutboxMail, utcnow
from .messages import Message


class Outbox:
    """Where mails wait to be sent, and the signal that a new one was committed."""

    def __init__(self) -> None:
        self._new_mail = asyncio.Event()

    def add(self, db: AsyncSession, message: Message) -> None:
        """Queue `message` in the caller's transaction; call `wake()` once it is committed."""
        now = utcnow()
        db.add(
            OutboxMail(
                recipient=message.to,
                subject=message.subject,
                body=message.body,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )

    def wake(self) -> None:
        self._new_mail.set()

    async def wait(self, poll_seconds: float) -> None:
        """Return when `wake()` is called, or after `poll_seconds`.

        `asyncio.timeout`, not `wait_for`: on Python 3.11, `wait_for` can swallow a cancellation that arrives as
        its timeout expires, and the sender would outlive the app's shutdown.
        """
        with suppress(TimeoutError):
            async with asyncio.timeout(poll_seconds):
                await self._new_mail.wait()
        self._new_mail.clear()
