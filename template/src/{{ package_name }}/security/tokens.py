"""JSON Web Tokens for access, opaque random strings for refresh.

Access tokens are HS256 JWTs (RFC 8725): the algorithm is pinned, header `typ` is `at+jwt`, and exp, iat, nbf,
aud, iss, sub, sid and jti are all required. The NumericDate claims must be integers, as this service issues them
(PyJWT alone takes floats and numeric strings), and `exp - iat` at most ACCESS_TOKEN_TTL_SECONDS plus the leeway: a
token cannot outlive the TTL. Refresh tokens are 256-bit random strings that only their holder has: the database
keeps their SHA-256.

Every access token names its signing key in the header `kid` (`key_ids.py`). New tokens are signed with SECRET_KEY;
those of the keys in SECRET_KEY_PREVIOUS still verify, so that the key can be rotated without logging anyone out,
and removing a key from there ends its tokens. The `kid` is only ever a lookup in the service's own keys: the whole
header of a token must be one this service writes for one of them (its `alg`, `kid` and `typ`), so a token with an
unknown `kid`, none, or any other header field is refused before its signature is checked. `jwk`, `jku` and `x5u`
are never used to find a key.

A client sends the same access token with every request until it expires, and checking it again gives the same
answer but for the clock: so the service keeps the claims of the last VERIFIED_TOKENS_KEPT tokens that passed every
check, and a token seen again has only its time window checked (`exp`, `nbf`, with the same leeway). A token that
differs by one character is another key, checked in full. Keys change only with a restart, which empties it. The
session behind a token is still checked in the database on every request (`security.sessions`).
"""

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from ..settings import Settings
from .key_ids import key_id

ALGORITHM = "HS256"
ACCESS_JWT_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 4096
LEEWAY_SECONDS = 10
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "aud", "iss", "sub", "sid", "jti")
KID_PURPOSE = "access-token"
VERIFIED_TOKENS_KEPT = 4096


class InvalidTokenError(Exception):
    """The token is not one this service issued, or is no longer valid."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says: whose it is, and which session it belongs to."""

    user_id: uuid.UUID
    session_id: uuid.UUID


class ClaimsDecoder:
    """PyJWT's checks as this service pins them: HS256 alone, every claim of `required`, one audience, one issuer."""

    def __init__(self, required: tuple[str, ...], *, audience: str, issuer: str) -> None:
        self._jwt = jwt.PyJWT(options={"require": list(required)})
        self._audience = audience
        self._issuer = issuer

    def decode(self, token: str, key: str | bytes) -> dict[str, Any]:
        """The claims of `token` signed with `key`; raises PyJWT's errors (InvalidSignatureError for another key)."""
        return self._jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=self._audience, issuer=self._issuer, leeway=LEEWAY_SECONDS
        )


class TokenService:
    """Issues tokens signed with SECRET_KEY; checks them against it and the keys of SECRET_KEY_PREVIOUS."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_key.get_secret_value()
        self._headers = _headers_for(self._key)
        # The header segment of the tokens each key signs, byte for byte as `issue_access_token` writes it: one
        # lookup finds the key of a token, and refuses any header this service does not write.
        keys = (self._key, *(key.get_secret_value() for key in settings.secret_key_previous))
        self._keys = {self._header_segment(key): key for key in keys}
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.access_ttl = settings.access_token_ttl_seconds
        self._max_lifetime = self.access_ttl + LEEWAY_SECONDS
        self._decoder = ClaimsDecoder(REQUIRED_CLAIMS, audience=self._audience, issuer=self._issuer)
        # token -> (claims, nbf, exp) of tokens that passed every check; the oldest leaves first when it is full.
        self._verified: dict[str, tuple[AccessClaims, int, int]] = {}

    @staticmethod
    def _header_segment(key: str) -> str:
        return jwt.encode({}, key, algorithm=ALGORITHM, headers=_headers_for(key)).partition(".")[0]

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
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=self._headers)

    def decode_access_token(self, token: str) -> AccessClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError
        verified = self._verified.get(token)
        if verified is not None:
            claims, not_before, expires = verified
            # PyJWT's own rules: valid from nbf - leeway, expired once exp + leeway has passed.
            if not_before - LEEWAY_SECONDS <= time.time() < expires + LEEWAY_SECONDS:
                return claims
            del self._verified[token]
            raise InvalidTokenError
        claims, not_before, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, not_before, expires)
        return claims

    def _verify(self, token: str) -> tuple[AccessClaims, int, int]:
        """Every check of the token: header, signature, claims; its claims and time window (nbf, exp)."""
        key = self._keys.get(token.partition(".")[0])
        if key is None:
            raise InvalidTokenError
        try:
            payload = self._decoder.decode(token, key)
            iat, nbf, exp = payload["iat"], payload["nbf"], payload["exp"]
            # `type(...) is int`, not isinstance: a JSON `true` is a bool, which Python counts as an int.
            if type(iat) is not int or type(nbf) is not int or type(exp) is not int or exp - iat > self._max_lifetime:
                raise InvalidTokenError
            return AccessClaims(uuid.UUID(payload["sub"]), uuid.UUID(payload["sid"])), nbf, exp
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidTokenError from exc


def access_kid(key: str) -> str:
    """The `kid` of the access tokens that `key` signs."""
    return key_id(key.encode(), KID_PURPOSE)


def _headers_for(key: str) -> dict[str, str]:
    return {"typ": ACCESS_JWT_TYP, "kid": access_kid(key)}


def new_refresh_token() -> str:
    """A refresh token: 256 bits from the operating system's CSPRNG."""
    return "rt_" + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """What the database stores instead of the token. A fast hash is right here: the input has 256 bits."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
