"""The one place that decides whether a request came through a trusted proxy, and what that proxy may tell us.

From a peer inside TRUSTED_PROXIES, the client is the right-most `X-Forwarded-For` address that is not itself a
trusted proxy, and the scheme comes from `X-Forwarded-Proto`; the scope is marked so that later middleware may believe
the proxy's other headers (`X-Request-ID`). From any other peer these headers change nothing.
"""

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

# Set in the scope of a request that a trusted proxy forwarded.
FORWARDED_BY_TRUSTED_PROXY = "forwarded_by_trusted_proxy"
_SCHEMES = frozenset({"http", "https"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


class ProxyHeadersMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str]) -> None:
        self.app = app
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies
        )

    def is_trusted(self, host: str | None) -> bool:
        address = _address(host) if host else None
        return address is not None and any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
                if (address := _address(entry)) is None:
                    break  # a value no proxy writes: believe nothing further left
                if not self.is_trusted(str(address)):
                    scope["client"] = (str(address), 0)
                    break
        await self.app(scope, receive, send)
