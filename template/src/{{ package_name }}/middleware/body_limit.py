"""Cap request bodies: a declared length over the cap is refused before reading, a streamed one once it passes."""

import contextlib
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .responses import send_json


class _BodyTooLargeError(Exception):
    pass


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A plain method that returns the next app's coroutine (or the refusal, or the counting call): a request
        without a streamed body passes with no frame of this layer in its awaits."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        streamed = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    return self._refuse(send)
                return self.app(scope, receive, send)
            if name == b"transfer-encoding":
                streamed = True
        if not streamed:
            return self.app(scope, receive, send)
        return self._call_counting(scope, receive, send)

    async def _call_counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_BodyTooLargeError):
            await self.app(scope, counting_receive, guarded_send)
        if too_large and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send_json(send, 413, {"detail": f"Request body is larger than {self.max_bytes} bytes."})
