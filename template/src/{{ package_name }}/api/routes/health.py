"""Liveness and readiness probes, outside the API prefix and the OpenAPI schema.

Readiness tells a load balancer whether to send this replica traffic. The database is a hard dependency: without it
nothing can be answered, so the replica answers 503 and leaves the pool. The rate-limit store is not: every replica
shares it, so when it is down they would all leave the pool at once, and the routes that need no counter (every
authenticated one) would stop with the auth routes. Those keep failing closed (503, api/errors.py) while readiness
stays 200 with `"status": "degraded"`, and `checks` names what is down.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ...observability.metrics import count_dependency_error

router = APIRouter(prefix="/health", include_in_schema=False)
PATHS = ("/health/live", "/health/ready")
DATABASE_DOWN = (OSError, SQLAlchemyError)
# Without these the replica cannot serve (503); any other check that fails only degrades it.
REQUIRED = frozenset({"database"})


@router.get("/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except DATABASE_DOWN:
        checks["database"] = "unavailable"
    checks["rate_limit_store"] = "ok" if await request.app.state.rate_limiter.healthy() else "unavailable"
    down = {name for name, value in checks.items() if value != "ok"}
    for name in down:
        count_dependency_error(name)
    if down & REQUIRED:
        return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
    return JSONResponse({"status": "degraded" if down else "ok", "checks": checks})
