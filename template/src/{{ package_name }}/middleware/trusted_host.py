"""Refuse requests whose Host header names a host this service does not serve (Host header injection)."""

from collections.abc import Awaitable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from .responses import send_json

_VERDICTS_KEPT = 256


class TrustedHostMiddleware:
    """Exact names, or `*.example.com` for any subdomain. Anything else gets a 400 with a JSON detail.

    `exempt_paths` (the health probes) answer whatever the Host: orchestrators probe by pod or container address.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str], exempt_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.exempt_paths = frozenset(exempt_paths)
        hosts = [host.lower() for host in allowed_hosts]
        self.exact = frozenset(host for host in hosts if not host.startswith("*."))
        self.suffixes = tuple(host[1:] for host in hosts if host.startswith("*."))
        # The verdicts on the first Host values seen, so that a request's usual Host is judged once per process.
        # Bounded, so that a client sending endless made-up hosts only makes its own requests judged afresh.
        self._verdicts: dict[bytes, bool] = {}

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A plain method that returns the next app's coroutine: the layer adds no frame to the request's awaits."""
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.exempt_paths or self._allowed(scope):
            return self.app(scope, receive, send)
        return send_json(send, 400, {"detail": "Invalid host header."})

    def _allowed(self, scope: Scope) -> bool:
        host = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = bytes(value)
                break
        verdict = self._verdicts.get(host)
        if verdict is None:
            verdict = self._judge(host)
            if len(self._verdicts) < _VERDICTS_KEPT:
                self._verdicts[host] = verdict
        return verdict

    def _judge(self, host: bytes) -> bool:
        name = host.decode("latin-1").lower()
        if name.startswith("["):
            name = name[: name.find("]") + 1]
        elif ":" in name:
            name = name.partition(":")[0]
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))
