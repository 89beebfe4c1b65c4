"""The settings every project has, whatever its answers: environment, tokens, HTTP, rate limits, passwords."""

import ipaddress
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode

from .defaults import HASH_ALGORITHM, PASSWORD_MIN_LENGTH, PROJECT_NAME, PROJECT_SLUG
from .rate_limits import RateLimit

CommaList = Annotated[list[str], NoDecode]
SecretList = Annotated[tuple[SecretStr, ...], NoDecode]
PasswordAlgorithm = Literal["argon2", "bcrypt", "scrypt"]
PEPPERED_ALGORITHMS = frozenset({"bcrypt"})
MIN_SECRET_BYTES = 32


class CoreSettings(BaseSettings):
    """Names match the environment variables; each choice made at `copier copy` adds a mixin (`__init__.py`)."""

    app_env: Literal["development", "test", "production"] = "production"
    debug: bool = False
    docs_enabled: bool = False
    project_name: str = PROJECT_NAME
    log_level: str = "INFO"

    secret_key: SecretStr
    jwt_issuer: str = PROJECT_SLUG
    jwt_audience: str = f"{PROJECT_SLUG}-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=1_209_600, ge=300, le=31_536_000)
    # ASVS 5.0 7.3.1: a refresh token not used for this long is refused, and its session ends. Left unset, it is
    # capped at REFRESH_TOKEN_TTL_SECONDS; set, it must lie between ACCESS_TOKEN_TTL_SECONDS and that.
    refresh_token_idle_timeout_seconds: int = Field(default=86_400, ge=300, le=31_536_000)

    allowed_hosts: CommaList = ["localhost", "127.0.0.1"]
    cors_origins: CommaList = []
    trusted_proxies: CommaList = []
    # O01: who may read GET /metrics (addresses or CIDR networks); every other client gets a 404.
    metrics_allowed_networks: CommaList = ["127.0.0.1/32", "::1/128"]
    max_body_bytes: int = Field(default=65_536, ge=1_024)

    rate_limit_login: RateLimit = "5/minute"
    rate_limit_login_account: RateLimit = "10/15 minutes"
    rate_limit_register: RateLimit = "10/hour"
    rate_limit_refresh: RateLimit = "30/minute"
    # Second-factor attempts per account (the login's second step, step-up), right or wrong, whoever sends them.
    rate_limit_mfa: RateLimit = "10/15 minutes"
    # An IPv6 client is keyed by its network of this many bits (one host often has a whole /64 to pick from).
    rate_limit_ipv6_prefix: int = Field(default=64, ge=32, le=128)
    # How long a device token (given at each successful login) keeps the device's own failed-login budget.
    device_token_ttl_days: int = Field(default=30, ge=1, le=400)
    # Password checks (login, password change) of one account hashing at once per process; the others wait.
    password_checks_per_account: int = Field(default=1, ge=1, le=16)

    password_min_length: int = Field(default=PASSWORD_MIN_LENGTH, ge=12, le=64)
    password_hasher: PasswordAlgorithm = HASH_ALGORITHM
    password_pepper: SecretStr | None = None
    # Rotation (A15): earlier keys, comma-separated, newest first; what they signed or peppered still verifies.
    secret_key_previous: SecretList = ()
    password_pepper_previous: SecretList = ()

    # MFA: the key that encrypts TOTP secrets at rest (security/secret_box.py); unset, it is derived from SECRET_KEY.
    mfa_encryption_key: SecretStr | None = None
    mfa_encryption_key_previous: SecretList = ()
    # How long a login's second step may wait for its code.
    mfa_challenge_ttl_seconds: int = Field(default=300, ge=30, le=900)
    # Admin routes refuse an admin without MFA (api/deps.py).
    mfa_required_for_admins: bool = False

    # Error tracking: off unless SENTRY_DSN is set (observability/error_tracking.py); the environment is APP_ENV's.
    sentry_dsn: SecretStr | None = None
    sentry_environment: str | None = None
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("allowed_hosts", "cors_origins", "trusted_proxies", "metrics_allowed_networks", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("secret_key_previous", "password_pepper_previous", "mfa_encryption_key_previous", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        """Only spaces around the commas go: a key keeps every other byte it had as SECRET_KEY or PASSWORD_PEPPER."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            return tuple(item.strip(" ") for item in value.split(",") if item.strip())
        return value

    @field_validator("trusted_proxies", "metrics_allowed_networks")
    @classmethod
    def _proxies_are_networks(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Each entry is a network; an IPv4-mapped one (`::ffff:10.0.0.0/104`) becomes the IPv4 network it covers."""
        networks = []
        for entry in value:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                msg = f"{str(info.field_name).upper()}: {entry!r} is not an IP address or CIDR network"
                raise ValueError(msg) from None
            mapped = network.network_address.ipv4_mapped if isinstance(network, ipaddress.IPv6Network) else None
            if mapped is not None and network.prefixlen >= 96:
                entry = str(ipaddress.IPv4Network((mapped, network.prefixlen - 96)))
            networks.append(entry)
        return networks

    @field_validator("sentry_dsn", mode="before")
    @classmethod
    def _dsn_is_usable(cls, value: object) -> object:
        """An empty SENTRY_DSN is unset; any other must be a DSN. The message never quotes it: it holds a key."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str):
            if not raw.strip():
                return None
            url = urlsplit(raw.strip())
            if url.scheme not in {"http", "https"} or not url.username or not url.hostname or not url.path.strip("/"):
                msg = "SENTRY_DSN is not a Sentry DSN like https://<public key>@<host>/<project id>"
                raise ValueError(msg)
            return raw.strip()
        return value

    @model_validator(mode="after")
    def _secrets_are_usable(self) -> Self:
        if len(self.secret_key.get_secret_value().encode()) < MIN_SECRET_BYTES:
            msg = (
                f"SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes; "
                "generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
            raise ValueError(msg)
        if self.password_hasher in PEPPERED_ALGORITHMS and self.password_pepper is None:
            # Typed "missing" so that the error says where the pepper was looked for (load_settings).
            raise PydanticCustomError("missing", "PASSWORD_PEPPER is required when PASSWORD_HASHER is bcrypt")
        if (
            self.password_pepper is not None
            and len(self.password_pepper.get_secret_value().encode()) < MIN_SECRET_BYTES
        ):
            msg = f"PASSWORD_PEPPER must be at least {MIN_SECRET_BYTES} bytes"
            raise ValueError(msg)
        key = self.mfa_encryption_key
        if key is not None and len(key.get_secret_value().encode()) < MIN_SECRET_BYTES:
            msg = f"MFA_ENCRYPTION_KEY must be at least {MIN_SECRET_BYTES} bytes"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _previous_secrets_are_usable(self) -> Self:
        """The earlier keys obey the rules of the current ones; their positions are named, never their values."""
        previous = {
            "SECRET_KEY_PREVIOUS": self.secret_key_previous,
            "PASSWORD_PEPPER_PREVIOUS": self.password_pepper_previous,
            "MFA_ENCRYPTION_KEY_PREVIOUS": self.mfa_encryption_key_previous,
        }
        for name, keys in previous.items():
            short = [str(n) for n, key in enumerate(keys, 1) if len(key.get_secret_value().encode()) < MIN_SECRET_BYTES]
            if short:
                which = f"key {short[0]} is" if len(short) == 1 else f"keys {', '.join(short)} are"
                msg = f"{name} keys must be at least {MIN_SECRET_BYTES} bytes each; {which} shorter"
                raise ValueError(msg)
        if self.password_pepper_previous and self.password_pepper is None:
            msg = "PASSWORD_PEPPER_PREVIOUS is set without PASSWORD_PEPPER, the pepper that replaced them"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _idle_timeout_fits_lifetimes(self) -> Self:
        idle, absolute = self.refresh_token_idle_timeout_seconds, self.refresh_token_ttl_seconds
        if "refresh_token_idle_timeout_seconds" not in self.model_fields_set:
            self.refresh_token_idle_timeout_seconds = min(idle, absolute)
        elif idle > absolute:
            msg = f"REFRESH_TOKEN_IDLE_TIMEOUT_SECONDS ({idle}) exceeds REFRESH_TOKEN_TTL_SECONDS ({absolute})"
            raise ValueError(msg)
        elif idle < self.access_token_ttl_seconds:
            msg = (
                f"REFRESH_TOKEN_IDLE_TIMEOUT_SECONDS ({idle}) is shorter than ACCESS_TOKEN_TTL_SECONDS "
                f"({self.access_token_ttl_seconds}): a client refreshing when its access token expires would be refused"
            )
            raise ValueError(msg)
        return self

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def pepper(self) -> bytes | None:
        """PASSWORD_PEPPER as the key the peppered hasher takes."""
        return self.password_pepper.get_secret_value().encode() if self.password_pepper else None

    @property
    def previous_peppers(self) -> tuple[bytes, ...]:
        """PASSWORD_PEPPER_PREVIOUS as keys: hashes made with them still verify, and are redone with the pepper."""
        return tuple(pepper.get_secret_value().encode() for pepper in self.password_pepper_previous)

    @classmethod
    def origin_of(cls, name: str, *, missing: bool) -> str:
        """Where setting `name` came from, or was looked for, to end an error about it; empty when it is plain."""
        return ""
