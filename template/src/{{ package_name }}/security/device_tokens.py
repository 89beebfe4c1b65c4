"""Keyed hashes of account names, and device tokens: OWASP's device cookies against account lockout.

A successful login gives the client a device token, an HMAC-signed (account, random nonce, expiry) that only this
service can make. A later login (or password change) that presents a valid token for its account is counted in a
failed-password budget of that device alone; every other client shares the account's budget for untrusted clients.
So guesses from any number of addresses lock out only untrusted clients, while the owner, on a device that logged
in before, still gets in; and a device token that keeps failing locks only itself.
(https://owasp.org/www-community/Slow_Down_Online_Guessing_Attacks_with_Device_Cookies)

Accounts are named by a keyed hash (HMAC-SHA256 of the normalised email), in rate-limit keys and audit events alike:
stable across processes and restarts, useless to anyone without SECRET_KEY. Each use has its own key, derived from
SECRET_KEY, so that no value made for one purpose is valid for another.
"""

import base64
import hashlib
import hmac
import secrets
import time

DEVICE_COOKIE = "__Secure-device-token"
MAX_DEVICE_TOKEN_LENGTH = 128


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose, derived from SECRET_KEY (HMAC-SHA256 as a PRF, HKDF-expand style with one block)."""
    return hmac.new(secret, f"rampart/{purpose}\x01".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class AccountKeys:
    """The keyed hash that names an account (a normalised email) in rate-limit keys and audit events."""

    def __init__(self, secret: bytes) -> None:
        self._key = derive_key(secret, "account-name")

    def of(self, email: str) -> str:
        """32 hex digits (128 bits) for this email; the same in every process that has the same SECRET_KEY."""
        return hmac.new(self._key, email.encode(), hashlib.sha256).hexdigest()[:32]


class DeviceTokens:
    """Issue and check device tokens: `<expiry>.<nonce>.<mac>`, the MAC over the account's keyed hash too."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._key = derive_key(secret, "device-token")
        self.ttl_seconds = ttl_seconds

    def issue(self, account: str) -> str:
        expiry = str(int(time.time()) + self.ttl_seconds)
        nonce = secrets.token_urlsafe(16)
        return f"{expiry}.{nonce}.{self._mac(account, expiry, nonce)}"

    def device_of(self, token: str | None, account: str) -> str | None:
        """The nonce that names the device, when `token` is a valid, unexpired token of this account; else None."""
        if not token or len(token) > MAX_DEVICE_TOKEN_LENGTH:
            return None
        expiry, _, rest = token.partition(".")
        nonce, _, mac = rest.partition(".")
        if not (expiry.isascii() and expiry.isdigit()) or int(expiry) <= time.time() or not nonce or not mac:
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(account, expiry, nonce).encode()):
            return None
        return nonce

    def _mac(self, account: str, expiry: str, nonce: str) -> str:
        return _b64(hmac.new(self._key, f"{account}.{expiry}.{nonce}".encode(), hashlib.sha256).digest())
