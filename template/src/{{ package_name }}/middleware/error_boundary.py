"""A generic 500 (or 503 for an outage) for anything that escapes the handlers.

It runs inside the security-headers and request-id middleware, so that a 500 carries the same headers as any other
response. The body names only the request id; the traceback goes to the log, and a crash (not an outage) to the
error tracker through `report` when one is on (`observability/error_tracking.py`); an outage is counted through
`count_outage` (`dependency_errors_total`, main.py passes it).
"""

from collections.abc import Awaitable, Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..observability.error_tracking import Reporter, ignore_exception
from ..observability.request_id import current_request_id
from .responses import send_json

_log = structlog.stdlib.get_logger("errors")


class ErrorBoundaryMiddleware:
    """`is_outage` tells a dependency that cannot serve now (503) from a bug (500); `report` sends a bug on,
    `count_outage` counts an outage."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        is_outage: Callable[[Exception], bool],
        report: Reporter = ignore_exception,
        count_outage: Callable[[], None] = lambda: None,
    ) -> None:
        self.app = app
        self.is_outage = is_outage
        self.report = report
        self.count_outage = count_outage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        def watch_start(message: Message) -> Awaitable[None]:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            return send(message)

        try:
            await self.app(scope, receive, watch_start)
        except Exception as exc:
            outage = self.is_outage(exc)
            if outage:
                self.count_outage()
            else:
                self.report(exc, scope)  # first: as a breadcrumb of the report, the log line would repeat it
            request_id = current_request_id()
            _log.error(
                "request_failed",
                path=scope["path"],
                request_id=request_id,
                exc_info=not outage,
                error=type(exc).__name__,
            )
            if started:
                raise
            if outage:
                await send_json(send, 503, {"detail": "Service temporarily unavailable.", "request_id": request_id})
            else:
                await send_json(send, 500, {"detail": "Internal server error.", "request_id": request_id})
