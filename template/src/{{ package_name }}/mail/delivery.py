"""Delivery of the outbox through SMTP (aiosmtplib), with retries, and a lease so that replicas share the work.

A sender claims a due row with a conditional UPDATE (no live lease, not sent) and trusts the row count, so two
replicas, or two loops in one process, never send one row at once. It sends, then marks the row sent and clears
its body (the body carries a live link). A failed attempt is retried after a backoff that doubles from
MAIL_RETRY_SECONDS up to MAIL_RETRY_MAX_SECONDS, until MAIL_MAX_ATTEMPTS; a mail requested while the SMTP server is
down is sent when it is back, once. Should the process die between the server's acceptance and the row's update,
the row is sent again once its lease ends: its `Message-ID`, the row's id, lets the receiving side see the
duplicate.

Nothing sensitive is logged: a failure names the row and the error's class, never the address, the body or the
server's answer.
"""

import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..models import OutboxMail, utcnow
from ..observability.metrics import count_dependency_error
from ..settings import Settings
from .outbox import Outbox

_log = structlog.stdlib.get_logger("mail")

BATCH = 20
# How long a claim holds a row: several SMTP timeouts, for connect, TLS, login and the message.
LEASE_TIMEOUTS = 6


class SmtpSender:
    """One message to the configured SMTP server: TLS as SMTP_TLS says, the login when SMTP_USERNAME is set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = parseaddr(settings.mail_from)[1]
        self.domain = self.sender.rpartition("@")[2]

    def message(self, mail: OutboxMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(mail.created_at)
        message["Message-ID"] = f"<{mail.id}@{self.domain}>"
        message.set_content(mail.body or "")
        return message

    async def send(self, mail: OutboxMail) -> None:
        settings = self.settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        await aiosmtplib.send(
            self.message(mail),
            sender=self.sender,
            recipients=[mail.recipient],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password if settings.smtp_username is not None else None,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )


class OutboxDelivery:
    """The sender of one process: `run()` delivers what is due, then waits for a wake-up or the next poll."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, settings: Settings, sender: SmtpSender
    ) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.settings = settings
        self.sender = sender
        self.owner = str(uuid.uuid4())
        self.lease = timedelta(seconds=settings.smtp_timeout_seconds * LEASE_TIMEOUTS)
        self._running = True

    def stop(self) -> None:
        """End `run()` after the mail it is sending, if any; the app's shutdown also cancels it."""
        self._running = False
        self.outbox.wake()

    async def run(self) -> None:
        while self._running:
            try:
                await self.deliver_due()
            except Exception as exc:  # noqa: BLE001  (the database is down: the rows wait, and so does the loop)
                _log.warning("mail_outbox_unavailable", error=type(exc).__name__)
            await self.outbox.wait(self.settings.mail_poll_seconds)

    async def deliver_due(self) -> int:
        """Send every row that is due now and that no other sender holds; the number sent."""
        sent = 0
        async with self.sessionmaker() as db:
            now = utcnow()
            due = await db.scalars(
                select(OutboxMail.id)
                .where(
                    OutboxMail.sent_at.is_(None),
                    OutboxMail.failed_at.is_(None),
                    OutboxMail.next_attempt_at <= now,
                )
                .order_by(OutboxMail.next_attempt_at)
                .limit(BATCH)
            )
            for mail_id in list(due):
                mail = await self._claim(db, mail_id)
                if mail is not None:
                    sent += await self._deliver(db, mail)
        return sent

    async def _claim(self, db: AsyncSession, mail_id: uuid.UUID) -> OutboxMail | None:
        now = utcnow()
        claimed = await db.execute(
            update(OutboxMail)
            .where(
                OutboxMail.id == mail_id,
                OutboxMail.sent_at.is_(None),
                OutboxMail.failed_at.is_(None),
                OutboxMail.next_attempt_at <= now,
                (OutboxMail.lease_expires_at.is_(None)) | (OutboxMail.lease_expires_at <= now),
            )
            .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            await db.commit()
            return None  # another sender holds it, or has sent it
        mail = await db.get(OutboxMail, mail_id, populate_existing=True)
        await db.commit()  # no transaction stays open while the SMTP server is talked to
        return mail

    async def _deliver(self, db: AsyncSession, mail: OutboxMail) -> int:
        try:
            await self.sender.send(mail)
        except Exception as exc:  # noqa: BLE001  (whatever failed, the row is retried, then given up)
            await self._failed(db, mail, exc)
            return 0
        mail.sent_at = utcnow()
        mail.body = None
        mail.lease_owner = mail.lease_expires_at = None
        await db.commit()
        _log.info("mail_sent", mail_id=str(mail.id), attempts=mail.attempts + 1)
        return 1

    async def _failed(self, db: AsyncSession, mail: OutboxMail, exc: BaseException) -> None:
        count_dependency_error("smtp")
        mail.attempts += 1
        mail.last_error = type(exc).__name__
        mail.lease_owner = mail.lease_expires_at = None
        settings = self.settings
        if mail.attempts >= settings.mail_max_attempts:
            mail.failed_at = utcnow()
            mail.body = None
            _log.error("mail_abandoned", mail_id=str(mail.id), attempts=mail.attempts, error=mail.last_error)
        else:
            delay = min(settings.mail_retry_seconds * 2 ** (mail.attempts - 1), settings.mail_retry_max_seconds)
            mail.next_attempt_at = utcnow() + timedelta(seconds=delay)
            _log.warning("mail_retry", mail_id=str(mail.id), attempts=mail.attempts, error=mail.last_error)
        await db.commit()
