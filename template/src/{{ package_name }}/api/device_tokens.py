"""The device token (security/device_tokens.py) over HTTP: a cookie for each route that checks a password.

A successful login sets `__Secure-device-token` (HttpOnly, Secure, SameSite=Strict) once per route that checks a
password, each with that route's path, so browsers send it there and nowhere else. Other clients keep it like any
cookie (a cookie jar, or the `Set-Cookie` value sent back as `Cookie`).
"""

from typing import Annotated

from fastapi import Cookie, Request, Response

from ..security.device_tokens import DEVICE_COOKIE
from ..security.rate_limit import PasswordCheck

# The routes that check a password, by name.
DEVICE_TOKEN_ROUTES = ("login", "change_password")

DeviceTokenCookie = Annotated[
    str | None,
    Cookie(
        alias=DEVICE_COOKIE,
        description="The device token a successful login of this account set: failed checks sent with it count in "
        "a budget of this device alone, not in the account's budget for other clients.",
    ),
]


def give_device_token(request: Request, response: Response, check: PasswordCheck) -> None:
    """A new device token for the account `check` proved, as one cookie per route that checks a password."""
    token = check.new_device_token()
    for route in DEVICE_TOKEN_ROUTES:
        response.set_cookie(
            DEVICE_COOKIE,
            token,
            max_age=check.device_token_ttl_seconds,
            path=request.url_for(route).path,
            secure=True,
            httponly=True,
            samesite="strict",
        )
