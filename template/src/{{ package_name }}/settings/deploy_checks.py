"""Production readiness checks, in the manner of Django's `check --deploy`.

Each check carries a stable ID and a fix. `python -m <package> check-deploy` prints them, and the app refuses to
start in production while any of them fails.
"""

import ipaddress
from collections.abc import Callable

from limits import parse_many
from pydantic import SecretStr

from . import Settings
from .checks import Finding
from .database import CHECKS as DATABASE_CHECKS
from .key_strength import human_chosen
from .mail import CHECKS as MAIL_CHECKS
from .rate_limit_store import CHECKS as RATE_LIMIT_STORE_CHECKS
from .secret_backend import CHECKS as SECRET_BACKEND_CHECKS

WELL_KNOWN_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "changethis",
        "secret",
        "secret-key",
        "secret_key",
        "supersecret",
        "your-secret-key",
        "your_secret_key",
        "insecure",
        "development",
        "password",
        # The SECRET_KEY of FastAPI's OAuth2/JWT tutorial, copied into many services.
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",  # pragma: allowlist secret
    }
)


def _weakness(secret: str) -> str | None:
    """Why a key is not fit to sign tokens or pepper hashes; never quotes the key."""
    lowered = secret.lower()
    if any(word in lowered for word in WELL_KNOWN_SECRETS):
        return "is a well-known value"
    if len(set(secret)) < 12:
        return "has fewer than 12 distinct characters"
    if reason := human_chosen(secret):
        return f"looks chosen by a person ({reason})"
    return None


def _secret_key(settings: Settings) -> Finding | None:
    """RFC 8725 section 3.5: HMAC keys must come from a CSPRNG, whatever their length; the pepper is an HMAC key too."""
    keys = {
        "SECRET_KEY": settings.secret_key,
        "PASSWORD_PEPPER": settings.password_pepper,
        "MFA_ENCRYPTION_KEY": settings.mfa_encryption_key,
    }
    weak = {
        name: weakness
        for name, value in keys.items()
        if value is not None and (weakness := _weakness(value.get_secret_value()))
    }
    if weak:
        return Finding(
            "deploy.E002",
            "; ".join(f"{name} {weakness}" for name, weakness in weak.items())
            + ": keys must be random bytes from a CSPRNG (RFC 8725, section 3.5).",
            f"set {' and '.join(weak)} to the output of `python -c 'import secrets; print(secrets.token_hex(32))'`"
            + (", a new one for each." if len(weak) > 1 else "."),
        )
    return None


def _rotated_keys(settings: Settings) -> dict[str, tuple[SecretStr | None, tuple[SecretStr, ...]]]:
    """Each rotated setting: the key in use, and the earlier ones."""
    return {
        "SECRET_KEY": (settings.secret_key, settings.secret_key_previous),
        "PASSWORD_PEPPER": (settings.password_pepper, settings.password_pepper_previous),
        "MFA_ENCRYPTION_KEY": (settings.mfa_encryption_key, settings.mfa_encryption_key_previous),
    }


def _weak_previous_keys(settings: Settings) -> Finding | None:
    """Whoever guesses an earlier signing key signs tokens the service accepts, however old the key is."""
    weak = [
        f"{name}_PREVIOUS key {place} {weakness}"
        for name, (_, keys) in _rotated_keys(settings).items()
        for place, key in enumerate(keys, 1)
        if (weakness := _weakness(key.get_secret_value()))
    ]
    if weak:
        return Finding(
            "deploy.E024",
            "; ".join(weak) + ": earlier keys must be random bytes from a CSPRNG too (RFC 8725, section 3.5).",
            "remove them: the tokens a removed key signed get 401 and their clients refresh; accounts whose "
            "password hashes a removed pepper made cannot log in until they are given a new password.",
        )
    return None


def _current_key_kept_as_previous(settings: Settings) -> Finding | None:
    """The key in use again among the earlier ones: a rotation that rotated nothing."""
    repeated = [
        name
        for name, (key, keys) in _rotated_keys(settings).items()
        if key is not None and key.get_secret_value() in {old.get_secret_value() for old in keys}
    ]
    if repeated:
        return Finding(
            "deploy.E025",
            " and ".join(f"{name}_PREVIOUS holds {name}" for name in repeated) + ": the rotation rotated nothing.",
            f"set {' and '.join(repeated)} to a new key, and keep the old one in the _PREVIOUS setting.",
        )
    return None


def _environment(settings: Settings) -> Finding | None:
    if settings.app_env != "production":
        return Finding("deploy.E001", f"APP_ENV is {settings.app_env!r}.", "set APP_ENV=production.")
    return None


def _debug(settings: Settings) -> Finding | None:
    if settings.debug:
        return Finding("deploy.E003", "DEBUG is on.", "set DEBUG=false.")
    return None


def _docs(settings: Settings) -> Finding | None:
    if settings.docs_enabled:
        return Finding("deploy.E004", "Interactive docs and the OpenAPI schema are served.", "set DOCS_ENABLED=false.")
    return None


def _hosts(settings: Settings) -> Finding | None:
    if not settings.allowed_hosts or "*" in settings.allowed_hosts:
        return Finding(
            "deploy.E005",
            "ALLOWED_HOSTS is empty or '*', so any Host header is accepted.",
            "list the public host names, e.g. ALLOWED_HOSTS=api.example.com.",
        )
    return None


def _host_wildcards(settings: Settings) -> Finding | None:
    """`*.com` lets every site under a top-level domain through, which is as good as `*`."""
    broad = [host for host in settings.allowed_hosts if host.startswith("*.") and "." not in host[2:].strip(".")]
    if broad:
        return Finding(
            "deploy.E013",
            f"ALLOWED_HOSTS has wildcards over a whole top-level domain: {', '.join(broad)}.",
            "name your own domain, e.g. *.example.com, or list the host names.",
        )
    return None


def _cors_wildcard(settings: Settings) -> Finding | None:
    if "*" in settings.cors_origins:
        return Finding("deploy.E006", "CORS_ORIGINS contains '*'.", "list exact origins, e.g. https://app.example.com.")
    return None


def _cors_plain_http(settings: Settings) -> Finding | None:
    plain = [origin for origin in settings.cors_origins if origin.startswith("http://")]
    if plain:
        return Finding(
            "deploy.E007", f"CORS_ORIGINS allows plain-HTTP origins: {', '.join(plain)}.", "use https:// origins."
        )
    return None


def _cors_null(settings: Settings) -> Finding | None:
    """Sandboxed iframes, `data:` pages and local files all send `Origin: null`: allowing it allows them all."""
    if any(origin.lower() == "null" for origin in settings.cors_origins):
        return Finding(
            "deploy.E014",
            "CORS_ORIGINS contains 'null', which any sandboxed page or local file can send.",
            "remove 'null'; list the https:// origins of your front ends.",
        )
    return None


# A trusted network wider than this, holding Internet addresses, lets whoever is in it choose a client address.
WIDEST_PUBLIC_PROXY_PREFIX = {4: 16, 6: 32}


def _covers_the_internet(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if network.prefixlen == 0:
        return True
    internal = network.is_private or network.is_loopback or network.is_link_local
    return not internal and network.prefixlen < WIDEST_PUBLIC_PROXY_PREFIX[network.version]


def _proxies(settings: Settings) -> Finding | None:
    broad = [
        entry for entry in settings.trusted_proxies if _covers_the_internet(ipaddress.ip_network(entry, strict=False))
    ]
    if broad:
        return Finding(
            "deploy.E009",
            f"TRUSTED_PROXIES covers large parts of the Internet ({', '.join(broad)}): clients there may choose "
            "their own address.",
            "list only your load balancers' addresses or their private network.",
        )
    return None


def _metrics_networks(settings: Settings) -> Finding | None:
    """GET /metrics tells traffic, routes and security events to whoever may read it (O01)."""
    broad = [
        entry
        for entry in settings.metrics_allowed_networks
        if _covers_the_internet(ipaddress.ip_network(entry, strict=False))
    ]
    if broad:
        return Finding(
            "deploy.E019",
            f"METRICS_ALLOWED_NETWORKS covers large parts of the Internet ({', '.join(broad)}): anyone there "
            "reads GET /metrics.",
            "list only the addresses or private network your Prometheus scrapes from, e.g. "
            "METRICS_ALLOWED_NETWORKS=10.0.0.0/8.",
        )
    return None


def _token_lifetime(settings: Settings) -> Finding | None:
    if settings.access_token_ttl_seconds > 3600:
        return Finding(
            "deploy.E010",
            f"ACCESS_TOKEN_TTL_SECONDS is {settings.access_token_ttl_seconds}: stolen tokens live long.",
            "keep access tokens at 900 seconds or less; refresh tokens renew them.",
        )
    return None


def _database_echo(settings: Settings) -> Finding | None:
    if settings.database_echo:
        return Finding(
            "deploy.E011", "DATABASE_ECHO logs every SQL statement and its parameters.", "set DATABASE_ECHO=false."
        )
    return None


# What a production deployment needs at most; anything above is a limit that no longer limits.
RATE_LIMIT_CEILINGS = {
    "rate_limit_login": "60/minute",
    "rate_limit_login_account": "100/15 minutes",
    "rate_limit_register": "100/hour",
    "rate_limit_refresh": "300/minute",
    "rate_limit_mfa": "100/15 minutes",
    "rate_limit_password_reset": "100/hour",
    "rate_limit_password_reset_account": "10/hour",
    "rate_limit_verification_resend": "30/hour",
}
MAX_BODY_BYTES_CEILING = 1_048_576
VERBOSE_LOG_LEVELS = frozenset({"DEBUG", "NOTSET"})


def _log_level(settings: Settings) -> Finding | None:
    """At DEBUG, libraries log what the app never would: SQL statements with their parameters, headers, bodies."""
    if settings.log_level.upper() in VERBOSE_LOG_LEVELS:
        return Finding(
            "deploy.E015",
            f"LOG_LEVEL is {settings.log_level}: libraries log SQL parameters, headers and request data.",
            "set LOG_LEVEL=INFO (or WARNING).",
        )
    return None


def _per_second(limit: str) -> float:
    return max(item.amount / item.get_expiry() for item in parse_many(limit))


def _rate_limits(settings: Settings) -> Finding | None:
    loose = [
        f"{name.upper()}={getattr(settings, name)}"
        for name, ceiling in RATE_LIMIT_CEILINGS.items()
        if _per_second(getattr(settings, name)) > _per_second(ceiling)
    ]
    if loose:
        return Finding(
            "deploy.E016",
            f"Rate limits too loose to stop guessing or flooding: {', '.join(loose)}.",
            "keep each at or below its default's order: "
            + ", ".join(f"{name.upper()}={ceiling}" for name, ceiling in RATE_LIMIT_CEILINGS.items())
            + ".",
        )
    return None


def _body_cap(settings: Settings) -> Finding | None:
    if settings.max_body_bytes > MAX_BODY_BYTES_CEILING:
        return Finding(
            "deploy.E017",
            f"MAX_BODY_BYTES is {settings.max_body_bytes}: every JSON route parses bodies that large.",
            f"keep MAX_BODY_BYTES at {MAX_BODY_BYTES_CEILING} or less (the default is 65536).",
        )
    return None


def _sentry_dsn(settings: Settings) -> Finding | None:
    """Error reports carry stack traces and request paths: a plain-HTTP DSN sends them, and its key, in the clear."""
    if settings.sentry_dsn is not None and not settings.sentry_dsn.get_secret_value().lower().startswith("https://"):
        return Finding(
            "deploy.E020",
            "SENTRY_DSN is not https://: error reports would cross the network unencrypted.",
            "use the https:// DSN your Sentry project shows under Client Keys, or unset SENTRY_DSN.",
        )
    return None


CHECKS: tuple[Callable[[Settings], Finding | None], ...] = (
    _environment,
    _secret_key,
    _weak_previous_keys,
    _current_key_kept_as_previous,
    _debug,
    _docs,
    _hosts,
    _host_wildcards,
    _cors_wildcard,
    _cors_plain_http,
    _cors_null,
    _proxies,
    _metrics_networks,
    _token_lifetime,
    _database_echo,
    _log_level,
    _rate_limits,
    _body_cap,
    _sentry_dsn,
    *MAIL_CHECKS,
    *DATABASE_CHECKS,
    *RATE_LIMIT_STORE_CHECKS,
    *SECRET_BACKEND_CHECKS,
)


def run_deploy_checks(settings: Settings) -> list[Finding]:
    """Every failing check for these settings, in ID order: one finding never hides another."""
    return sorted((finding for check in CHECKS if (finding := check(settings)) is not None), key=lambda f: f.id)
