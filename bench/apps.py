"""The rendered app with parts of its middleware taken out: the "stack off" and "no metrics" targets of run.py.

Each is the app `uvicorn <package>.main:app` serves (same routes, dependencies, query and response model), built by
the package's own `create_app()`, with middleware entries dropped from `app.user_middleware` before Starlette builds
the middleware stack on the first request. No setting of the service is involved, so production has no such knob.

- `stack_off`: without the security middleware (headers, proxy headers, request id, error boundary, trusted host,
  body limit, CORS); the request metrics stay, as they are not a security layer.
- `no_metrics`: without the request metrics only, so that `stack / no_metrics` is what the metrics cost.
- `no_<module>` (`no_security_headers`, `no_request_id`, ...): without that one security layer (instructions.py).

Each of them is measured beside the whole stack in one server process (`paired_stack_off`, `paired_no_metrics`:
`Paired`), so that the few per cent between the two are not lost among the ~15 % by which two processes of one app
differ (memory layout, hash seed, the core they land on).

run.py puts the rendered project's `src/` and this folder on PYTHONPATH and names the package in BENCH_PACKAGE.
uvicorn asks this module for one name (`apps:paired_stack_off`), and only those apps are built (`__getattr__`).
"""

import contextlib
import importlib
import importlib.util
import os
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

PACKAGE = os.environ.get("BENCH_PACKAGE", "my_service")


def _middleware(module: str, name: str) -> set[Any]:
    """The class `name` of `<package>.middleware.<module>`; none when a render of an older commit lacks it."""
    if importlib.util.find_spec(f"{PACKAGE}.middleware.{module}") is None:
        return set()
    return {getattr(importlib.import_module(f"{PACKAGE}.middleware.{module}"), name)}


# The security layers of main.security_middleware, by module. The bench's environment sets no TRUSTED_PROXIES and no
# CORS_ORIGINS, so the service runs neither of those two layers there.
SECURITY_LAYERS: dict[str, frozenset[Any]] = {
    module: frozenset(_middleware(module, name))
    for module, name in (
        ("security_headers", "SecurityHeadersMiddleware"),
        ("proxy_headers", "ProxyHeadersMiddleware"),
        ("request_id", "RequestIdMiddleware"),
        ("error_boundary", "ErrorBoundaryMiddleware"),
        ("trusted_host", "TrustedHostMiddleware"),
        ("body_limit", "BodySizeLimitMiddleware"),
    )
}
SECURITY_MIDDLEWARE: frozenset[Any] = frozenset({CORSMiddleware}).union(*SECURITY_LAYERS.values())
METRICS_MIDDLEWARE: frozenset[Any] = frozenset(_middleware("metrics", "MetricsMiddleware"))
TARGETS = {
    "stack_off": SECURITY_MIDDLEWARE,
    "no_metrics": METRICS_MIDDLEWARE,
    # one security layer out at a time, for instructions.py --layers
    **{f"no_{module}": layer for module, layer in SECURITY_LAYERS.items()},
}


def without(app: FastAPI, removed: frozenset[Any]) -> FastAPI:
    if app.middleware_stack is not None:
        msg = "the middleware stack is already built; strip it before the first request"
        raise RuntimeError(msg)
    app.user_middleware = [entry for entry in app.user_middleware if entry.cls not in removed]
    return app


PAIRED = "paired_"


class Paired:
    """Apps served by one process, each under `/<name>`: `/stack_off/api/v1/users/me` reaches the app `stack_off` as
    `/api/v1/users/me`. Every request pays the same dispatch (one lookup and one scope copy), whichever app it is for,
    and every app's lifespan runs (pools, outbox sender) as it would on its own."""

    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        name = scope["path"].split("/", 2)[1]
        app = self.apps.get(name)
        if app is None:
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        cut = len(name) + 1
        await app({**scope, "path": scope["path"][cut:], "raw_path": scope["raw_path"][cut:]}, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with contextlib.AsyncExitStack() as running:
            try:
                for app in self.apps.values():
                    await running.enter_async_context(app.router.lifespan_context(app))
            except Exception as exc:  # uvicorn prints the message and exits
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


def build(name: str) -> FastAPI:
    """The app of one target: the whole stack (`stack`), or one of TARGETS."""
    app: FastAPI = importlib.import_module(f"{PACKAGE}.main").create_app()
    return app if name == "stack" else without(app, TARGETS[name])


def __getattr__(name: str) -> Any:
    if name in TARGETS:
        return build(name)
    # `paired_stack_off`: the stack and stack_off; `paired_stack_off__no_metrics`: the stack and both
    others = name.removeprefix(PAIRED).split("__") if name.startswith(PAIRED) else []
    if others and all(other in TARGETS for other in others):
        return Paired({other: build(other) for other in ("stack", *others)})
    raise AttributeError(name)
