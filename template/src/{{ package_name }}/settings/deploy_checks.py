"""Production readiness checks, in the manner of Django's `check --deploy`.

Each check carries a stable ID and a fix. `python -m <package> check-deploy` prints them, and the app refuses to
start in production while any of them fails.
"""

import ipaddress
from collections.abc import Callable

from . import Settings
from .checks import Finding
from .database import CHECKS as DATABASE_CHECKS
from .rate_limit_store import CHECKS as RATE_LIMIT_STORE_CHECKS

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


def _looks_weak(secret: str) -> bool:
    lowered = secret.lower()
    if any(word in lowered for word in WELL_KNOWN_SECRETS):
        return True
    return len(set(secret)) < 12


def _secret_key(settings: Settings) -> Finding | None:
    if _looks_weak(settings.secret_key.get_secret_value()):
        return Finding(
            "deploy.E002",
            "SECRET_KEY is a well-known or low-entropy value.",
            "set SECRET_KEY to the output of `python -c 'import secrets; print(secrets.token_hex(32))'`.",
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


def _cors(settings: Settings) -> Finding | None:
    if "*" in settings.cors_origins:
        return Finding("deploy.E006", "CORS_ORIGINS contains '*'.", "list exact origins, e.g. https://app.example.com.")
    plain = [origin for origin in settings.cors_origins if origin.startswith("http://")]
    if plain:
        return Finding(
            "deploy.E007", f"CORS_ORIGINS allows plain-HTTP origins: {', '.join(plain)}.", "use https:// origins."
        )
    return None


def _proxies(settings: Settings) -> Finding | None:
    for entry in settings.trusted_proxies:
        if ipaddress.ip_network(entry, strict=False).prefixlen == 0:
            return Finding(
                "deploy.E009",
                f"TRUSTED_PROXIES contains {entry}: every client may choose its own address.",
                "list only your load balancer's addresses.",
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


CHECKS: tuple[Callable[[Settings], Finding | None], ...] = (
    _environment,
    _secret_key,
    _debug,
    _docs,
    _hosts,
    _cors,
    _proxies,
    _token_lifetime,
    _database_echo,
    *DATABASE_CHECKS,
    *RATE_LIMIT_STORE_CHECKS,
)


def run_deploy_checks(settings: Settings) -> list[Finding]:
    """Every failing check for these settings, in ID order: one finding never hides another."""
    return sorted((finding for check in CHECKS if (finding := check(settings)) is not None), key=lambda f: f.id)
