"""Helpers the tests share: addresses, a default password, and the calls that register and log in."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

BASE_URL = "http://localhost"
API = "/api/v1"
PASSWORD = "violet otter reads maps under a copper lantern at quarter past nine"


def client_for(app: FastAPI, client_ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client that reaches the app in-process, as if from `client_ip`."""
    transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


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


async def register(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post(f"{API}/auth/register", json={"email": email, "password": password})


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post(f"{API}/auth/login", data={"username": email, "password": password})


AppFactory = Callable[..., Awaitable[FastAPI]]
AccountFactory = Callable[..., Awaitable[Account]]
