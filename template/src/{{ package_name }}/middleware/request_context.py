"""A request id for every request, and a generic 500 for anything that escapes the handlers.

Errors are caught here, inside the security-headers middleware, so that a 500 carries the same headers as any
other response. The body names only the request id; the traceback goes to the log.
"""

import ipaddress
import re
import secrets
from collections.abc import Iterable

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.request_context import set_request_id
from ..db import is_unavailable
from .responses import send_json

_log = structlog.stdlib.get_logger("errors")
_INCOMING_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Tags each request with an id; an incoming `X-Request-ID` is kept only when a trusted proxy sent it."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted_proxies = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._incoming_id(scope) or secrets.token_hex(8)
        set_request_id(request_id)
        header = (b"x-request-id", request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            unavailable = _is_outage(exc)
            _log.error(
                "request_failed",
                path=scope["path"],
                request_id=request_id,
                exc_info=not unavailable,
                error=type(exc).__name__,
            )
            if started:
                raise
            if unavailable:
                await send_json(
                    send_with_id, 503, {"detail": "Service temporarily unavailable.", "request_id": request_id}
                )
            else:
                await send_json(send_with_id, 500, {"detail": "Internal server error.", "request_id": request_id})
        finally:
            set_request_id(None)

    def _incoming_id(self, scope: Scope) -> str | None:
        if not self.trusted_proxies or not self._from_trusted_proxy(scope):
            return None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _INCOMING_ID.match(value):
                return bytes(value).decode("ascii")
        return None

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        try:
            peer = ipaddress.ip_address(client[0]) if client else None
        except ValueError:
            return False
        return peer is not None and any(peer in network for network in self.trusted_proxies)


def _is_outage(exc: Exception) -> bool:
    """A database or network that cannot be reached (503), as opposed to a bug (500)."""
    if isinstance(exc, DBAPIError):
        return is_unavailable(exc)
    return isinstance(exc, (PoolTimeoutError, OSError))
