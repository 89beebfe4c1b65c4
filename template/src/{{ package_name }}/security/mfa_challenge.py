"""The MFA challenge: what a right password earns an MFA account instead of tokens, to bring back with a code.

A short-lived (MFA_CHALLENGE_TTL_SECONDS) HS256 JWT that can never pass as an access token, nor an access token as
one: it is signed with a key derived from SECRET_KEY for this use alone (so the access-token check does not know its
key id, and refuses it before any signature check), and its `typ` and `aud` are its own. It names the account, and
carries a keyed fingerprint of the account's password hash: a password change voids every challenge out there.
"""

import hashlib
import hmac
import secrets
import time
import uuid

import jwt

from ..settings import Settings
from .device_tokens import derive_key
from .tokens import ALGORITHM, MAX_TOKEN_LENGTH, ClaimsDecoder

CHALLENGE_JWT_TYP = "mfa+jwt"
REQUIRED_CLAIMS = ("exp", "iat", "aud", "iss", "sub", "pwd", "jti")


class InvalidChallengeError(Exception):
    """Not a challenge this service issued, expired, or its account's password changed since."""


class MfaChallenges:
    """Issue and check MFA challenges, under SECRET_KEY; those of SECRET_KEY_PREVIOUS still check."""

    def __init__(self, settings: Settings) -> None:
        secrets_in_use = (settings.secret_key, *settings.secret_key_previous)
        self._keys = [derive_key(secret.get_secret_value().encode(), "mfa-challenge") for secret in secrets_in_use]
        self._issuer = settings.jwt_issuer
        self._audience = f"{settings.jwt_audience}:mfa"
        self.ttl = settings.mfa_challenge_ttl_seconds
        self._decoder = ClaimsDecoder(REQUIRED_CLAIMS, audience=self._audience, issuer=self._issuer)

    def issue(self, user_id: uuid.UUID, password_hash: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "pwd": self._fingerprint(self._keys[0], password_hash),
            "iat": now,
            "exp": now + self.ttl,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, self._keys[0], algorithm=ALGORITHM, headers={"typ": CHALLENGE_JWT_TYP})

    def user_of(self, token: str) -> tuple[uuid.UUID, str]:
        """The account a valid challenge names, and the password fingerprint to compare (`matches`)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidChallengeError
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidChallengeError from None
        if header != {"alg": ALGORITHM, "typ": CHALLENGE_JWT_TYP}:
            raise InvalidChallengeError
        for key in self._keys:
            try:
                payload = self._decoder.decode(token, key)
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                raise InvalidChallengeError from None
            try:
                return uuid.UUID(payload["sub"]), str(payload["pwd"])
            except (ValueError, TypeError, AttributeError) as exc:
                raise InvalidChallengeError from exc
        raise InvalidChallengeError

    def matches(self, fingerprint: str, password_hash: str) -> bool:
        """Whether a challenge's fingerprint is that of this password hash, under any key in use."""
        return any(hmac.compare_digest(fingerprint, self._fingerprint(key, password_hash)) for key in self._keys)

    @staticmethod
    def _fingerprint(key: bytes, password_hash: str) -> str:
        return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()[:32]
