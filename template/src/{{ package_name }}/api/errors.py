"""Error bodies: always JSON with a `detail`, never the submitted value, a traceback or a driver message."""

from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..core import audit
from ..core.rate_limit import RateLimitExceededError, RateLimitUnavailableError

_SAFE_ERROR_KEYS = ("type", "loc", "msg")


def policy_error(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, for rules that need settings to check."""
    return HTTPException(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"type": "policy", "loc": ["body", field], "msg": message}],
    )


def rate_limited(exc: RateLimitExceededError, client: str) -> HTTPException:
    audit.record(audit.RATE_LIMITED, client=client, retry_after=exc.retry_after)
    return HTTPException(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        detail="Too many requests; try again later.",
        headers={"Retry-After": str(exc.retry_after)},
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = [
            {key: error[key] for key in _SAFE_ERROR_KEYS if key in error} for error in exc.errors()
        ]
        return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": errors})

    @app.exception_handler(RateLimitUnavailableError)
    async def rate_limit_unavailable(_request: Request, _exc: RateLimitUnavailableError) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": "Service temporarily unavailable."},
            headers={"Retry-After": "5"},
        )
