"""A real SMTP server on loopback (aiosmtpd), for the tests of the mails the service sends.

The server runs in a thread of its own and keeps every message it accepts; a test reads them back, and follows
their links. It can be stopped and started again on the same port, to play an outage of the mail server.
"""

import email
import email.policy
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import anyio
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from . import free_port

LINK = re.compile(r"https?://\S+")


class _Keeper:
    """aiosmtpd's handler: accept every message and keep it, parsed, with its envelope recipients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(([str(rcpt) for rcpt in envelope.rcpt_tos], message))
        return "250 Message accepted"


class SmtpServer:
    """The server, its port, and what it received."""

    def __init__(self) -> None:
        self.port = free_port()
        self._keeper = _Keeper()
        self._controller: Controller | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """Settings for an app that sends here at once, and retries fast."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_tls": "none",
            "smtp_timeout_seconds": 5,
            "mail_poll_seconds": 0.05,
            "mail_retry_seconds": 0.05,
            "mail_retry_max_seconds": 0.2,
        }

    def start(self) -> None:
        self._controller = Controller(self._keeper, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self, to: str) -> list[EmailMessage]:
        with self._keeper.lock:
            return [message for recipients, message in self._keeper.messages if to in recipients]

    async def next_message(self, to: str, *, after: int = 0, within: float = 10) -> EmailMessage:
        """The message number `after` (from 0) that `to` received, waiting for it up to `within` seconds."""
        deadline = time.monotonic() + within
        while len(messages := self.received(to)) <= after:
            assert time.monotonic() < deadline, f"no mail number {after + 1} for {to} within {within} s"
            await anyio.sleep(0.02)
        return messages[after]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage) -> str:
    """The one link of a message."""
    links = LINK.findall(body_of(message))
    assert len(links) == 1, links
    return str(links[0])


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app with its lifespan started, so that its outbox sender runs, as under uvicorn."""
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()
