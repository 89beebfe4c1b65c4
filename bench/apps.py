"""The rendered app with parts of its middleware taken out: the "stack off" and "no metrics" targets of run.py.

Each is the app `uvicorn <package>.main:app` serves (same routes, dependencies, query and response model), built by
the package's own `create_app()`, with middleware entries dropped from `app.user_middleware` before Starlette builds
the middleware stack on the first request. No setting of the service is involved, so production has no such knob.

- `stack_off`: without the security middleware (headers, proxy headers, request id, error boundary, trusted host,
  body limit, CORS); the request metrics stay, as they are not a security layer.
- `no_metrics`: without the request metrics only, so that `stack / no_metrics` is what the metrics cost.

run.py puts the rendered project's `src/` and this folder on PYTHONPATH and names the package in BENCH_PACKAGE.
uvicorn asks this module for one name (`apps:stack_off`), and only that app is built (`__getattr__`).
"""

import importlib
import importlib.util
import os
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

PACKAGE = os.environ.get("BENCH_PACKAGE", "my_service")


def _middleware(module: str, name: str) -> set[Any]:
    """The class `name` of `<package>.middleware.<module>`; none when a render of an older commit lacks it."""
    if importlib.util.find_spec(f"{PACKAGE}.middleware.{module}") is None:
        return set()
    return {getattr(importlib.import_module(f"{PACKAGE}.middleware.{module}"), name)}


SECURITY_MIDDLEWARE: frozenset[Any] = frozenset(
    {
        *_middleware("security_headers", "SecurityHeadersMiddleware"),
        *_middleware("proxy_headers", "ProxyHeadersMiddleware"),
        *_middleware("request_id", "RequestIdMiddleware"),
        *_middleware("error_boundary", "ErrorBoundaryMiddleware"),
        *_middleware("trusted_host", "TrustedHostMiddleware"),
        *_middleware("body_limit", "BodySizeLimitMiddleware"),
        CORSMiddleware,
    }
)
METRICS_MIDDLEWARE: frozenset[Any] = frozenset(_middleware("metrics", "MetricsMiddleware"))
TARGETS = {"stack_off": SECURITY_MIDDLEWARE, "no_metrics": METRICS_MIDDLEWARE}


def without(app: FastAPI, removed: frozenset[Any]) -> FastAPI:
    if app.middleware_stack is not None:
        msg = "the middleware stack is already built; strip it before the first request"
        raise RuntimeError(msg)
    app.user_middleware = [entry for entry in app.user_middleware if entry.cls not in removed]
    return app


def __getattr__(name: str) -> FastAPI:
    if name not in TARGETS:
        raise AttributeError(name)
    main = importlib.import_module(f"{PACKAGE}.main")
    return without(main.create_app(), TARGETS[name])
