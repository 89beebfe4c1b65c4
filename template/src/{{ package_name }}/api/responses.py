"""The error answers of the API, declared once for the OpenAPI document (H10).

Every error body is JSON with a `detail`: a fixed sentence, or for a 422 a list of issues (api/validation_errors.py
says what they hold). A route declares the statuses of its own with `responses=errors(...)`; those that come from
the layers around every route (the Host check, the body cap, validation, the token, an outage) are added to every
operation they apply to by api/openapi.py.
"""

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    detail: str = Field(description="What went wrong, in a fixed sentence that never repeats the request.")
    request_id: str | None = Field(
        default=None, description="On an answer of the error boundary (500, 503): the X-Request-ID to quote."
    )


class ValidationIssue(BaseModel):
    type: str = Field(description="The kind of error: pydantic's error type, or `policy` for the password policy.")
    loc: list[str | int] = Field(description="Where: the source (`body`, `query`, ...), then declared names only.")
    msg: str = Field(description="A fixed text for the kind of error; never the submitted value.")


class ValidationErrorBody(BaseModel):
    detail: list[ValidationIssue]


def _header(description: str, schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {"description": description, "schema": schema, "required": required}


WWW_AUTHENTICATE = {"WWW-Authenticate": _header("`Bearer`", {"type": "string"}, required=True)}
RETRY_AFTER = _header("Seconds to wait before trying again.", {"type": "integer", "minimum": 1}, required=True)

ERRORS: dict[int, dict[str, Any]] = {
    400: {
        "description": "The request cannot be taken: its Host header names a host this service does not serve, "
        "or its body cannot be parsed.",
    },
    401: {"description": "No valid access token.", "headers": WWW_AUTHENTICATE},
    403: {"description": "The token's user is not an admin."},
    404: {"description": "Not found, or not the caller's: the two are not told apart."},
    409: {"description": "The request conflicts with the current state."},
    413: {"description": "The body is larger than MAX_BODY_BYTES."},
    422: {"description": "The request does not match the schema, or a rule that needs the settings refused it."},
    429: {"description": "Too many attempts: wait `Retry-After` seconds.", "headers": {"Retry-After": RETRY_AFTER}},
    503: {
        "description": "The database, or the rate-limit store of a route that counts attempts, cannot be reached "
        "now: try again later.",
        "headers": {"Retry-After": {**RETRY_AFTER, "required": False}},
    },
}


def error(status: int, description: str | None = None) -> dict[str, Any]:
    """One error answer for `responses=`: ERRORS' declaration of `status`, with the route's own description."""
    declared = {**ERRORS[status], "model": ValidationErrorBody if status == 422 else ErrorBody}
    if description is not None:
        declared["description"] = description
    return declared


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status as ERRORS declares it. Add `status: error(status, "...")` for one
    with a description of the route's own."""
    return {status: error(status) for status in statuses}
