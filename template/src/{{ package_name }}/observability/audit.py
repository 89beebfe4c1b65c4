"""Security events, named after the OWASP Logging Vocabulary, as structured records on the `audit` logger.

Each event is logged at the level the vocabulary gives it: reuse of a refresh token, a failed password change and
an authorization failure are CRITICAL; failed logins, throttles and admin actions WARNING; routine success INFO.
Callers pass identifiers (user id, client address, session id, the account's keyed hash from
`security.device_tokens.AccountKeys`), never an email, password, token or secret.
"""

import logging
import uuid
from enum import StrEnum, auto
from typing import Any

import structlog

from .metrics import count_security_event
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
    AUTHN_PASSWORD_RESET_REQUESTED = auto()
    AUTHN_PASSWORD_RESET = auto()
    AUTHN_PASSWORD_RESET_FAIL = auto()
    AUTHN_MFA_ENROLLMENT_STARTED = auto()
    AUTHN_MFA_ENABLED = auto()
    AUTHN_MFA_CHALLENGED = auto()
    AUTHN_MFA_SUCCESS = auto()
    AUTHN_MFA_FAIL = auto()
    AUTHN_MFA_RECOVERY_CODE_USED = auto()
    AUTHN_MFA_DISABLED = auto()
    SESSION_EXPIRED = auto()
    SESSION_LOGOUT = auto()
    SESSION_LOGOUT_ALL = auto()
    USER_CREATED = auto()
    USER_EMAIL_VERIFICATION_REQUESTED = auto()
    USER_EMAIL_VERIFIED = auto()
    USER_EMAIL_VERIFICATION_FAIL = auto()
    USER_EMAIL_CHANGE_REQUESTED = auto()
    USER_EMAIL_CHANGE_FAIL = auto()
    USER_EMAIL_CHANGED = auto()
    AUTHZ_FAIL = auto()
    AUTHZ_ADMIN_USER_UPDATE = auto()
    AUTHZ_ADMIN_CREATED = auto()

    @property
    def level(self) -> int:
        """The OWASP vocabulary's level for this event; one not listed yet is a warning, never hidden as info."""
        return LEVELS.get(self, logging.WARNING)


# Per the OWASP Logging Vocabulary Cheat Sheet (the event it corresponds to, where the name differs).
LEVELS: dict[AuditEvent, int] = {
    AuditEvent.AUTHN_LOGIN_SUCCESS: logging.INFO,
    AuditEvent.AUTHN_LOGIN_FAIL: logging.WARNING,
    AuditEvent.AUTHN_TOKEN_REFRESHED: logging.INFO,  # authn_token_created
    AuditEvent.AUTHN_TOKEN_REUSE: logging.CRITICAL,
    AuditEvent.AUTHN_PASSWORD_CHANGE: logging.INFO,
    AuditEvent.AUTHN_PASSWORD_CHANGE_FAIL: logging.CRITICAL,
    AuditEvent.AUTHN_THROTTLED: logging.WARNING,  # authn_login_fail_max, authn_login_lock, excess_rate_limit_exceeded
    # Recovery is a password change by mail (authn_password_change): asked for routine, a bad token worth a look.
    AuditEvent.AUTHN_PASSWORD_RESET_REQUESTED: logging.INFO,
    AuditEvent.AUTHN_PASSWORD_RESET: logging.INFO,  # authn_password_change
    AuditEvent.AUTHN_PASSWORD_RESET_FAIL: logging.WARNING,  # authn_password_change_fail, by an invalid token
    # The vocabulary has no MFA events: a factor added is routine, one removed or a wrong code is worth a look.
    AuditEvent.AUTHN_MFA_ENROLLMENT_STARTED: logging.INFO,
    AuditEvent.AUTHN_MFA_ENABLED: logging.INFO,
    AuditEvent.AUTHN_MFA_CHALLENGED: logging.INFO,  # authn_login_success of the password step
    AuditEvent.AUTHN_MFA_SUCCESS: logging.INFO,
    AuditEvent.AUTHN_MFA_FAIL: logging.WARNING,  # authn_login_fail of the code step
    AuditEvent.AUTHN_MFA_RECOVERY_CODE_USED: logging.WARNING,
    AuditEvent.AUTHN_MFA_DISABLED: logging.WARNING,
    AuditEvent.SESSION_EXPIRED: logging.INFO,
    AuditEvent.SESSION_LOGOUT: logging.INFO,  # session_expired, reason logout
    AuditEvent.SESSION_LOGOUT_ALL: logging.INFO,  # session_expired, reason logout
    AuditEvent.USER_CREATED: logging.WARNING,
    AuditEvent.USER_EMAIL_VERIFICATION_REQUESTED: logging.INFO,
    AuditEvent.USER_EMAIL_VERIFIED: logging.INFO,
    AuditEvent.USER_EMAIL_VERIFICATION_FAIL: logging.WARNING,
    AuditEvent.USER_EMAIL_CHANGE_REQUESTED: logging.INFO,
    AuditEvent.USER_EMAIL_CHANGE_FAIL: logging.CRITICAL,  # authn_password_change_fail: the step-up's password
    AuditEvent.USER_EMAIL_CHANGED: logging.WARNING,  # user_updated
    AuditEvent.AUTHZ_FAIL: logging.CRITICAL,
    AuditEvent.AUTHZ_ADMIN_USER_UPDATE: logging.WARNING,  # authz_admin, user_updated
    AuditEvent.AUTHZ_ADMIN_CREATED: logging.WARNING,  # authz_admin, user_created
}


def record(event: AuditEvent, *, user_id: uuid.UUID | None = None, client: str | None = None, **fields: Any) -> None:
    """Write one security event with a UTC time, its level, its name, who did it and the request it belongs to.

    The event also moves its Prometheus counter, if it has one (observability/metrics.py): one place feeds both.
    """
    count_security_event(event.value, fields.get("limit"))
    _log.log(
        event.level,
        str(event),
        user_id=str(user_id) if user_id is not None else None,
        client=client,
        request_id=current_request_id(),
        **fields,
    )
