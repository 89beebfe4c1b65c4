"""Helpers the tests share: addresses, a default password, accounts, and what the tests that start processes need.

Per-choice fixtures live beside this module, one plugin module per choice made at `copier copy` (`database.py`,
`rate_limit_store.py`, `secret_backend.py`); `conftest.py` loads them.
"""

import logging
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BASE_URL = "http://localhost"
API = "/api/v1"
PASSWORD = "violet otter reads maps under a copper lantern at quarter past nine"


class AppClient(httpx.AsyncClient):
    """An HTTP client bound to one in-process app; helpers reach what the app wrote through `app` (its outbox)."""

    def __init__(self, app: FastAPI, client_ip: str) -> None:
        super().__init__(transport=httpx.ASGITransport(app=app, client=(client_ip, 40000)), base_url=BASE_URL)
        self.app = app


def client_for(app: FastAPI, client_ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client that reaches the app in-process, as if from `client_ip`."""
    return AppClient(app, client_ip)


def unique_email(prefix: str = "user") -> str:
    """An address no other test uses, so tests never see each other's accounts or rate-limit windows."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_env(**settings: str) -> dict[str, str]:
    """The environment of a process a test starts: only these settings, the project's sources, and PATH."""
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(PROJECT_ROOT / "src"), **settings}


@dataclass
class Account:
    """A registered user and the tokens of one login."""

    email: str
    password: str
    id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, *, verify: bool = True
) -> httpx.Response:
    """Register; on an in-process app, also follow the verification link it mailed, as its owner would."""
    response = await http.post(f"{API}/auth/register", json={"email": email, "password": password})
    if verify and response.status_code == 201 and isinstance(http, AppClient):
        await verify_email(http, response.json()["email"])
    return response


VERIFY_LINK = re.compile(r"/verify-email#token=(\S+)")


async def verify_email(http: AppClient, email: str) -> None:
    """Follow the newest verification link in the app's outbox for `email` (the tests of mail itself use a real
    SMTP server: `support/smtp.py`)."""
    query = text(
        "SELECT body FROM mail_outbox WHERE recipient = :email AND body LIKE '%/verify-email#token=%' "
        "ORDER BY created_at"
    )
    async with http.app.state.sessionmaker() as db:
        bodies = list(await db.scalars(query, {"email": email}))
    assert bodies, f"no verification mail for {email}"
    tokens = [match.group(1) for body in bodies if (match := VERIFY_LINK.search(body))]
    verified = await http.post(f"{API}/auth/verify-email", json={"token": tokens[-1]})
    assert verified.status_code == 204, verified.text


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post(f"{API}/auth/login", data={"username": email, "password": password})


UNAVAILABLE = "Service temporarily unavailable."


def assert_generic_503(response: httpx.Response) -> None:
    """The answer to an outage: 503, a body that names only the request id, and the security headers."""
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": UNAVAILABLE, "request_id": response.headers["x-request-id"]}
    assert response.headers["x-content-type-options"] == "nosniff"


AppFactory = Callable[..., Awaitable[FastAPI]]
AccountFactory = Callable[..., Awaitable[Account]]


def audit_events(records: Iterable[logging.LogRecord]) -> list[dict[str, Any]]:
    """The security events among log records (pytest's `caplog.records`): the fields of each record of the audit log."""
    return [record.msg for record in records if record.name == "audit" and isinstance(record.msg, dict)]
