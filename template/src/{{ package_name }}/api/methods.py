"""A 405 whose `Allow` names every method of the path (RFC 9110, section 15.5.6), as the OpenAPI document does.

The router answers a method a path does not take with the methods of the first route of that path it finds, and
FastAPI keeps one route per method: `Allow` named one of the methods of `/items` (GET, POST), say.
"""

import re
from collections.abc import Iterable
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import compile_path


def install_method_not_allowed(app: FastAPI) -> None:
    table: list[tuple[re.Pattern[str], frozenset[str]]] = []

    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        if not table:  # the routes are all there by the first request
            table.extend(_methods_by_path(app.routes))
        path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
        allowed = sorted({method for regex, methods in table if regex.match(path) for method in methods})
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        headers["Allow"] = ", ".join(allowed)
        return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)

    app.add_exception_handler(405, method_not_allowed)


def _methods_by_path(routes: Iterable[Any]) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Every route's path pattern and methods; included routers however this FastAPI keeps them."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    table = []
    for route in contexts(routes) if contexts else routes:
        path, methods = getattr(route, "path_format", None), getattr(route, "methods", None)
        if path and methods:
            table.append((compile_path(path)[0], frozenset(methods)))
    return table
