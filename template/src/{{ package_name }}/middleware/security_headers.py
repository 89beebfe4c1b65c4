"""Security headers on every response, errors included, and no `Server` or `X-Powered-By`."""

from collections.abc import Awaitable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
BASE_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "permissions-policy": "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
DROPPED = frozenset({b"server", b"x-powered-by"})
_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")

_Headers = tuple[tuple[bytes, bytes], ...]


def _encode(headers: dict[str, str]) -> _Headers:
    return tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())


class SecurityHeadersMiddleware:
    """Adds the OWASP-recommended headers; pages under `docs_prefixes` get a CSP that lets them load local assets.

    The headers are encoded once, here, in two variants each: with `Cache-Control: no-store` for a response that
    sets no caching policy of its own, and without it for one that does.
    """

    def __init__(self, app: ASGIApp, docs_prefixes: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_prefixes = tuple(docs_prefixes)
        api = _encode({**BASE_HEADERS, "content-security-policy": API_CSP})
        docs = _encode({**BASE_HEADERS, "content-security-policy": DOCS_CSP})
        # (headers when the response has its own Cache-Control, headers when it has none)
        self.api_headers: tuple[_Headers, _Headers] = (api, (_NO_STORE, *api))
        self.docs_headers: tuple[_Headers, _Headers] = (docs, (_NO_STORE, *docs))

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A plain method that returns the next app's coroutine, with a plain `send` that returns the server's: the
        layer adds no frame to the request's awaits, nor a coroutine to each message it sends."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        path: str = scope["path"]
        extra = self.docs_headers if self.docs_prefixes and path.startswith(self.docs_prefixes) else self.api_headers

        def send_with_headers(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers", ()), extra)
            return send(message)

        return self.app(scope, receive, send_with_headers)


def _secured(headers: Iterable[tuple[bytes, bytes]], extra: tuple[_Headers, _Headers]) -> list[tuple[bytes, bytes]]:
    """A new list (the response may reuse its own): its headers without DROPPED, then the security headers."""
    secured = [header for header in headers if header[0] not in DROPPED]
    has_cache_control = False
    for name, _ in secured:
        if name == _CACHE_CONTROL:
            has_cache_control = True
            break
    secured.extend(extra[0] if has_cache_control else extra[1])
    return secured
