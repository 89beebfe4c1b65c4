"""Error bodies: always JSON with a `detail`, never the submitted value, a traceback or a driver message.

Domain and rate-limit exceptions are answered here, once, instead of in every route that can raise them.
"""

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..observability.audit import AuditEvent, record
from ..security.rate_limit import RateLimitExceededError, RateLimitUnavailableError
from ..services.accounts import EmailTakenError, PasswordRejectedError, WrongPasswordError
from ..services.mfa import CodeRequiredError, InvalidCodeError
from .validation_errors import safe_errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = safe_errors(request.app, exc.errors())
        return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": errors})

    @app.exception_handler(PasswordRejectedError)
    async def password_rejected(_request: Request, exc: PasswordRejectedError) -> JSONResponse:
        """A 422 shaped like FastAPI's own validation errors, for the rule that needs settings to check."""
        detail = [{"type": "policy", "loc": ["body", exc.field], "msg": exc.reason}]
        return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": detail})

    @app.exception_handler(EmailTakenError)
    async def email_taken(_request: Request, _exc: EmailTakenError) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content={"detail": "Email already registered."})

    # Step-up (services/step_up.py): the request is authenticated, what it brought to confirm it is not right.
    @app.exception_handler(WrongPasswordError)
    async def wrong_password(_request: Request, _exc: WrongPasswordError) -> JSONResponse:
        detail = "Current password is incorrect."
        return JSONResponse(status_code=status.HTTP_400_BAD_REQUEST, content={"detail": detail})

    @app.exception_handler(CodeRequiredError)
    async def code_required(_request: Request, _exc: CodeRequiredError) -> JSONResponse:
        detail = "This account uses MFA: send a code from the authenticator app, or a recovery code."
        return JSONResponse(status_code=status.HTTP_400_BAD_REQUEST, content={"detail": detail})

    @app.exception_handler(InvalidCodeError)
    async def invalid_code(_request: Request, _exc: InvalidCodeError) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_400_BAD_REQUEST, content={"detail": "The code is not valid."})

    @app.exception_handler(RateLimitExceededError)
    async def rate_limited(request: Request, exc: RateLimitExceededError) -> JSONResponse:
        client = request.client.host if request.client else None
        record(
            AuditEvent.AUTHN_THROTTLED,
            client=client,
            retry_after=exc.retry_after,
            limit=exc.limit,
            account_hash=exc.account_hash,
        )
        return JSONResponse(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            content={"detail": "Too many requests; try again later."},
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(RateLimitUnavailableError)
    async def rate_limit_unavailable(_request: Request, _exc: RateLimitUnavailableError) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": "Service temporarily unavailable."},
            headers={"Retry-After": "5"},
        )
