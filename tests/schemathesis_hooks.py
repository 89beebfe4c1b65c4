"""Schemathesis hooks for test_openapi.py, loaded by the `st` process through SCHEMATHESIS_HOOKS.

- Authentication: the admin routes get the admin's token (made by `create-admin`), every other route a token of
  an account of its own, registered and logged in over the API. A 401 (a generated logout revoked the token, say)
  makes schemathesis fetch a new one.
- The refusals no schema can state, because they depend on a secret or on a strength estimate rather than on the
  shape of the request, are documented answers, not failures: a new password that the document's `minLength`
  admits and the password policy refuses (a 422 of type `policy`, described on the field), and the 400 a route
  declares for a secret the request got wrong: the current password, a mailed token, a TOTP code. Every other
  failure stands, a policy refusal of a password shorter than the documented `minLength` included.

The server's address, the admin and PASSWORD_MIN_LENGTH come from the environment test_openapi.py gives `st`.
"""

import itertools
import os
import uuid
from typing import Any

import httpx
import schemathesis

BASE_URL = os.environ["RAMPART_API_URL"]
ADMIN_EMAIL = os.environ["RAMPART_ADMIN_EMAIL"]
PASSWORD = os.environ["RAMPART_PASSWORD"]
PASSWORD_MIN_LENGTH = int(os.environ["RAMPART_PASSWORD_MIN_LENGTH"])
ADMIN_PATHS = r"^/api/v1/users(/\{user_id\})?$"
# The operations that apply the password policy, and their field for the new password.
NEW_PASSWORD_FIELDS = {
    "POST /api/v1/auth/register": "password",
    "POST /api/v1/users/me/password": "new_password",
    "POST /api/v1/auth/password-reset/confirm": "new_password",
}
# The 400s that answer a secret no generator can know (a token, the current password, a TOTP code), per operation.
SECRET_REFUSALS = {
    "POST /api/v1/users/me/password": {"Current password is incorrect."},
    "POST /api/v1/users/me/email": {"Current password is incorrect."},
    "POST /api/v1/auth/password-reset/confirm": {"Invalid or expired token."},
    "POST /api/v1/auth/verify-email": {"Invalid or expired token."},
    "POST /api/v1/users/me/mfa/totp/confirm": {"The code is not valid."},
}
_accounts = itertools.count()


def _access_token(email: str, *, register: bool) -> str:
    with httpx.Client(base_url=BASE_URL, timeout=30, trust_env=False) as http:
        if register:
            created = http.post("/auth/register", json={"email": email, "password": PASSWORD})
            assert created.status_code == 201, created.text
        tokens = http.post("/auth/login", data={"username": email, "password": PASSWORD})
        assert tokens.status_code == 200, tokens.text
    token: str = tokens.json()["access_token"]
    return token


class _Bearer:
    def set(self, case: Any, data: str, _context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.auth().apply_to(path_regex=ADMIN_PATHS)
class Admin(_Bearer):
    def get(self, _case: Any, _context: Any) -> str:
        return _access_token(ADMIN_EMAIL, register=False)


@schemathesis.auth().skip_for(path_regex=ADMIN_PATHS)
class FreshAccount(_Bearer):
    def get(self, _case: Any, _context: Any) -> str:
        return _access_token(f"st-{next(_accounts)}-{uuid.uuid4().hex[:8]}@example.com", register=True)


@schemathesis.hook
def filter_failure(_context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a documented refusal of a secret: a weak new password of an admitted length, or a
    wrong current password."""
    if type(failure).__name__ != "RejectedPositiveData":
        return True
    label = case.operation.label
    if response.status_code == 400:
        return response.json().get("detail") not in SECRET_REFUSALS.get(label, set())
    field = NEW_PASSWORD_FIELDS.get(label)
    if field is None or response.status_code != 422:
        return True
    password = case.body.get(field) if isinstance(case.body, dict) else None
    issues = response.json().get("detail")
    policy_only = isinstance(issues, list) and all(
        issue.get("type") == "policy" and issue.get("loc") == ["body", field] for issue in issues
    )
    return not (policy_only and isinstance(password, str) and len(password) >= PASSWORD_MIN_LENGTH)
