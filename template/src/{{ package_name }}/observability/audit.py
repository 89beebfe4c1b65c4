"""Security events, named after the OWASP Logging Vocabulary, as structured records on the `audit` logger.

Callers pass identifiers (user id, client address, session id), never a password, token or secret.
"""

import uuid
from enum import StrEnum, auto
from typing import Any

import structlog

from .request_id import current_request_id

_log = structlog.stdlib.get_logger("audit")


class AuditEvent(StrEnum):
    """Each member's value is its name in lower case: the event name that lands in the log."""

    AUTHN_LOGIN_SUCCESS = auto()
    AUTHN_LOGIN_FAIL = auto()
    AUTHN_TOKEN_REFRESHED = auto()
    AUTHN_TOKEN_REUSE = auto()
    AUTHN_PASSWORD_CHANGE = auto()
    AUTHN_PASSWORD_CHANGE_FAIL = auto()
    AUTHN_THROTTLED = auto()
    SESSION_LOGOUT = auto()
    SESSION_LOGOUT_ALL = auto()
    USER_CREATED = auto()
    AUTHZ_FAIL = auto()
    AUTHZ_ADMIN_USER_UPDATE = auto()
    AUTHZ_ADMIN_CREATED = auto()


def record(event: AuditEvent, *, user_id: uuid.UUID | None = None, client: str | None = None, **fields: Any) -> None:
    """Write one security event with a UTC time, its name, who did it and the request it belongs to."""
    _log.info(
        str(event),
        user_id=str(user_id) if user_id is not None else None,
        client=client,
        request_id=current_request_id(),
        **fields,
    )
