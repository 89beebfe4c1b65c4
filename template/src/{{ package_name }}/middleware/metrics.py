"""Count and time every HTTP request by route template, method and status (observability/metrics.py).

The route is the template of the route the router matched (`/api/v1/users/{user_id}`), with the prefix it was
included under; a request no route matched (a 404, a refusal before routing) is counted as `unmatched`. The label
children of each (route, method, status) are looked up once and kept, so a request costs two clock reads, two
dictionary lookups and the two updates.
"""

import re
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..observability.metrics import METHODS, OTHER_METHOD, UNMATCHED_ROUTE, metrics

_Children = tuple[Counter, Histogram]
_Templates = tuple[tuple[re.Pattern[str], str], ...]
# Keyed by id(): routes are not hashable. Each entry keeps its route, so an id reused by a new object never matches.
_Table = dict[int, tuple[Any, _Templates]]
_ANY_PATH = re.compile("")


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Bounded: routes and statuses come from the app, methods outside METHODS are one `other`.
        self._children: dict[tuple[str, str, int], _Children] = {}
        self._templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before it answers

        def send_with_status(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method = scope["method"]
            key = (self._templates.of(scope), method if method in METHODS else OTHER_METHOD, status)
            requests, latency = self._children.get(key) or self._add(key)
            requests.inc()
            latency.observe(time.perf_counter() - started)

    def _add(self, key: tuple[str, str, int]) -> _Children:
        route, method, status = key
        counters = metrics()
        children = (
            counters.http_requests.labels(route, method, str(status)),
            counters.http_latency.labels(route, method, f"{status // 100}xx"),
        )
        self._children[key] = children
        return children


class RouteTemplates:
    """The full path template of the route a request matched, prefixes of included routers included.

    The router leaves the matched route in `scope["route"]`. FastAPI keeps an included router's routes under their
    own paths (`/users/{user_id}`) and applies the prefix while matching, so the full templates come from a table of
    the app's routes (`fastapi.routing.iter_route_contexts`), built at the first request. A route added later is
    looked up once more and then kept: the table never grows with requests, only with the app's routes.
    """

    def __init__(self) -> None:
        self._table: _Table | None = None

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED_ROUTE
        table = self._table
        if table is None:
            table = self._table = _templates_by_route(scope["app"].routes)
        entry = table.get(id(route))
        if entry is None or entry[0] is not route:
            entry = table[id(route)] = _added_route(route, scope["app"].routes)
        templates = entry[1]
        if len(templates) == 1:
            return templates[0][1]
        # One route included under several prefixes: the template whose pattern matches this path.
        path = scope["path"]
        return next((template for regex, template in templates if regex.match(path)), templates[0][1])


def _added_route(route: Any, routes: Sequence[BaseRoute]) -> tuple[Any, _Templates]:
    """A route the table lacks: its templates among the app's routes now, or its own path if it is not there."""
    entry = _templates_by_route(routes).get(id(route))
    if entry is not None and entry[0] is route:
        return entry
    template = getattr(route, "path_format", None)
    return route, ((_ANY_PATH, template if isinstance(template, str) else UNMATCHED_ROUTE),)


def _templates_by_route(routes: Sequence[BaseRoute]) -> _Table:
    """Each route object and the full templates it is served under."""
    table: _Table = {}
    for context in iter_route_contexts(routes):
        route, template = context.original_route, context.path_format
        if template is not None:
            known = table.get(id(route), (route, ()))[1]
            table[id(route)] = (route, (*known, (compile_path(template)[0], template)))
    return table
