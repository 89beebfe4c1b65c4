"""GET /metrics in Prometheus' text format, outside the API prefix and the OpenAPI schema.

Prometheus scrapes each instance directly, never through a proxy. So the path answers only a request that carries
no forwarding header at all (X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, Forwarded, X-Real-IP) from a
direct peer inside METRICS_ALLOWED_NETWORKS (loopback by default); to anyone else, whatever the method, the path does
not exist: the same 404 as an unknown route. Without those headers ProxyHeadersMiddleware has rewritten nothing, so
the client in the scope is the peer of the connection. A proxy may translate an Internet client into an address of
the allowlist (a load balancer that rewrites source addresses): whatever it forwards, with any header, gets the 404.
"""

from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client.exposition import choose_encoder
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from ...observability.metrics import registry
from ...security.client_keys import parse_address, parse_network

PATH = "/metrics"
METHODS = ("GET", "HEAD")
# Headers that some proxy wrote (or a client pretends one did): such a request is not a scrape.
FORWARDING_HEADERS = frozenset(
    {b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"forwarded", b"x-real-ip"}
)


class MetricsEndpoint:
    """The ASGI app behind the route: a route takes an app as it is, of every method, where it would give a function
    only GET, and outside the allowlist no method may tell by a 405 that the path exists."""

    def __init__(self, allowed_networks: Iterable[str]) -> None:
        self.networks = tuple(parse_network(entry) for entry in allowed_networks)
        self.registry = registry()

    def is_direct_scrape(self, scope: Scope) -> bool:
        """No forwarding header, and the connection's peer inside the allowlist."""
        if any(name in FORWARDING_HEADERS for name, _value in scope["headers"]):
            return False
        client = scope.get("client")
        address = parse_address(client[0]) if client else None
        return address is not None and any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.is_direct_scrape(scope):
            raise HTTPException(status_code=404)
        request = Request(scope)
        response: Response
        if request.method in METHODS:
            encode, content_type = choose_encoder(request.headers.get("accept", ""))
            response = Response(encode(self.registry), media_type=content_type)
        else:
            allow = {"Allow": ", ".join(METHODS)}
            response = JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=allow)
        await response(scope, receive, send)


class AnyMethodRoute(Route):
    """A route that leaves itself in `scope["route"]`, as FastAPI's own routes do, for the request metrics."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def install_metrics(app: FastAPI, allowed_networks: Iterable[str]) -> None:
    """Serve PATH from the app's own routes: FastAPI passes on `scope["route"]` only from its top-level routes."""
    app.router.routes.append(AnyMethodRoute(PATH, MetricsEndpoint(allowed_networks), include_in_schema=False))
