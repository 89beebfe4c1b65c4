"""JSON Web Tokens for access, opaque random strings for refresh.

Access tokens are HS256 JWTs (RFC 8725): the algorithm is pinned, header `typ` is `at+jwt`, and exp, iat, nbf,
aud, iss, sub, sid and jti are all required. Key-locating headers (`kid`, `jwk`, `jku`, `x5u`) are never read.
The NumericDate claims must be integers, as this service issues them (PyJWT alone takes floats and numeric
strings), and `exp - iat` at most ACCESS_TOKEN_TTL_SECONDS plus the leeway: a token cannot outlive the TTL.
Refresh tokens are 256-bit random strings that only their holder has: the database keeps their SHA-256.
"""

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from ..settings import Settings

ALGORITHM = "HS256"
ACCESS_JWT_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 4096
LEEWAY_SECONDS = 10
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "aud", "iss", "sub", "sid", "jti")


class InvalidTokenError(Exception):
    """The token is not one this service issued, or is no longer valid."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says: whose it is, and which session it belongs to."""

    user_id: uuid.UUID
    session_id: uuid.UUID


class TokenService:
    """Issues and checks tokens with the service's signing key."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_key.get_secret_value()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.access_ttl = settings.access_token_ttl_seconds
        self._max_lifetime = self.access_ttl + LEEWAY_SECONDS
        self._decoder = jwt.PyJWT(options={"require": list(REQUIRED_CLAIMS)})

    def issue_access_token(self, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": ACCESS_JWT_TYP})

    def decode_access_token(self, token: str) -> AccessClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError
        try:
            decoded = self._decoder.decode_complete(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
            )
            if decoded["header"].get("typ") != ACCESS_JWT_TYP:
                raise InvalidTokenError
            payload = decoded["payload"]
            iat, nbf, exp = payload["iat"], payload["nbf"], payload["exp"]
            # `type(...) is int`, not isinstance: a JSON `true` is a bool, which Python counts as an int.
            if type(iat) is not int or type(nbf) is not int or type(exp) is not int or exp - iat > self._max_lifetime:
                raise InvalidTokenError
            return AccessClaims(uuid.UUID(payload["sub"]), uuid.UUID(payload["sid"]))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidTokenError from exc


def new_refresh_token() -> str:
    """A refresh token: 256 bits from the operating system's CSPRNG."""
    return "rt_" + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """What the database stores instead of the token. A fast hash is right here: the input has 256 bits."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
