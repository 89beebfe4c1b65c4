"""Liveness and readiness probes, outside the API prefix and the OpenAPI schema."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter(prefix="/health", include_in_schema=False)
PATHS = ("/health/live", "/health/ready")
DATABASE_DOWN = (OSError, SQLAlchemyError)


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
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status_code=200 if healthy else 503
    )
