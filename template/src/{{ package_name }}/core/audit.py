"""Security events, named after the OWASP Logging Vocabulary, as structured records on the `audit` logger.

Callers pass identifiers (user id, client address, session id), never a password, token or secret.
"""

import uuid
from typing import Any

import structlog

from .request_context import current_request_id

_log = structlog.stdlib.get_logger("audit")

LOGIN_SUCCESS = "authn_login_success"
LOGIN_FAILURE = "authn_login_fail"
SESSION_REFRESHED = "authn_token_refreshed"
SESSION_REPLAYED = "authn_token_reuse"
LOGOUT = "session_logout"
LOGOUT_ALL = "session_logout_all"
CREDENTIALS_CHANGED = "authn_password_change"
CREDENTIALS_CHANGE_FAILED = "authn_password_change_fail"
REGISTER = "user_created"
RATE_LIMITED = "authn_throttled"
AUTHZ_DENIED = "authz_fail"
ADMIN_USER_UPDATE = "authz_admin_user_update"
ADMIN_CREATED = "authz_admin_created"


def record(event: str, *, user_id: uuid.UUID | None = None, client: str | None = None, **fields: Any) -> None:
    """Write one security event with a UTC time, its name, who did it and the request it belongs to."""
    _log.info(
        event,
        user_id=str(user_id) if user_id is not None else None,
        client=client,
        request_id=current_request_id(),
        **fields,
    )
