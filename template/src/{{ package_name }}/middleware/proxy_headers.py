"""The one place that decides whether a request came through a trusted proxy, and what that proxy may tell us.

From a peer inside TRUSTED_PROXIES, the client is the right-most `X-Forwarded-For` address that is not itself a
trusted proxy, and the scheme comes from `X-Forwarded-Proto`; the scope is marked so that later middleware may believe
the proxy's other headers (`X-Request-ID`). From any other peer these headers change nothing. Peers, forwarded
addresses and TRUSTED_PROXIES entries are read by `security/client_keys.py`: every spelling of an address is one
address, and an IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`) is matched against IPv4 networks. A request without
`X-Forwarded-For` keeps its peer as the client: GET /metrics, which answers only requests without any forwarding
header (api/routes/metrics.py), judges the connection's own peer.
"""

from collections.abc import Awaitable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from ..security.client_keys import Address, Network, parse_address, parse_network

# Set in the scope of a request that a trusted proxy forwarded.
FORWARDED_BY_TRUSTED_PROXY = "forwarded_by_trusted_proxy"
_SCHEMES = frozenset({"http", "https"})


class ProxyHeadersMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str]) -> None:
        self.app = app
        self.networks: tuple[Network, ...] = tuple(parse_network(entry) for entry in trusted_proxies)

    def is_trusted(self, host: str | Address | None) -> bool:
        """Whether `host` (a peer address in any spelling, IPv4-mapped included) is inside TRUSTED_PROXIES."""
        address = parse_address(host) if isinstance(host, str) else host
        return address is not None and any(address in network for network in self.networks)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A plain method that returns the next app's coroutine: the layer adds no frame to the request's awaits."""
        client = scope.get("client")
        if scope["type"] == "http" and client and self.is_trusted(client[0]):
            scope[FORWARDED_BY_TRUSTED_PROXY] = True
            forwarded_for: list[str] = []
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded_for.extend(value.decode("latin-1").split(","))
                elif name == b"x-forwarded-proto" and (proto := value.decode("latin-1").strip()) in _SCHEMES:
                    scope["scheme"] = proto
            for entry in reversed(forwarded_for):
                if (address := parse_address(entry)) is None:
                    break  # a value no proxy writes: believe nothing further left
                if not self.is_trusted(address):
                    scope["client"] = (str(address), 0)
                    break
        return self.app(scope, receive, send)
