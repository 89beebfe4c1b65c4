"""A request id for every request, in the response's `X-Request-ID`, the logs and error bodies."""

import os
import re
from collections.abc import Awaitable, Iterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..observability.request_id import set_request_id
from .proxy_headers import FORWARDED_BY_TRUSTED_PROXY

_INCOMING_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")
ID_BYTES = 8
IDS_PER_READ = 512


def random_ids() -> Iterator[str]:
    """Ids of ID_BYTES random bytes in hex, from one read of the OS's random source per IDS_PER_READ of them.

    Reading it for every request (`secrets.token_hex`) is a system call that lets go of the GIL: with other
    threads at work (aiosqlite's, the password hasher's) the event loop then waits to take it back: 3 % of the
    samples of a profile of the service under load on SQLite.
    """
    width = 2 * ID_BYTES
    while True:
        block = os.urandom(ID_BYTES * IDS_PER_READ).hex()
        for start in range(0, len(block), width):
            yield block[start : start + width]


class RequestIdMiddleware:
    """Tags each request with an id; an incoming `X-Request-ID` is kept only when a trusted proxy sent it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.new_ids = random_ids()  # the app's event loop is the only caller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or next(self.new_ids)
        set_request_id(request_id)
        header = (b"x-request-id", request_id.encode())

        def send_with_id(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]  # a new list: the response may reuse its own
            return send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            set_request_id(None)


def _incoming_id(scope: Scope) -> str | None:
    if not scope.get(FORWARDED_BY_TRUSTED_PROXY):
        return None
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _INCOMING_ID.match(value):
            return bytes(value).decode("ascii")
    return None
