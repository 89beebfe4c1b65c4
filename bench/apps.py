"""The rendered app with its security middleware taken out: the "stack off" target of run.py.

It is the very app `uvicorn <package>.main:app` serves (same routes, dependencies, query and response model);
only the security middleware entries are dropped from `app.user_middleware`, before Starlette builds the
middleware stack on the first request. No setting of the service is involved, so production has no such knob.

run.py puts the rendered project's `src/` and this folder on PYTHONPATH and names the package in BENCH_PACKAGE.
"""

import importlib
import os
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

PACKAGE = os.environ.get("BENCH_PACKAGE", "my_service")

_main = importlib.import_module(f"{PACKAGE}.main")

SECURITY_MIDDLEWARE: frozenset[Any] = frozenset(
    {
        importlib.import_module(f"{PACKAGE}.middleware.security_headers").SecurityHeadersMiddleware,
        importlib.import_module(f"{PACKAGE}.middleware.proxy_headers").ProxyHeadersMiddleware,
        importlib.import_module(f"{PACKAGE}.middleware.request_id").RequestIdMiddleware,
        importlib.import_module(f"{PACKAGE}.middleware.error_boundary").ErrorBoundaryMiddleware,
        importlib.import_module(f"{PACKAGE}.middleware.trusted_host").TrustedHostMiddleware,
        importlib.import_module(f"{PACKAGE}.middleware.body_limit").BodySizeLimitMiddleware,
        CORSMiddleware,
    }
)


def without_security_middleware(app: FastAPI) -> FastAPI:
    if app.middleware_stack is not None:
        msg = "the middleware stack is already built; strip it before the first request"
        raise RuntimeError(msg)
    app.user_middleware = [entry for entry in app.user_middleware if entry.cls not in SECURITY_MIDDLEWARE]
    return app


stack_off = without_security_middleware(_main.app)
