"""Settings of account recovery and its mail: the public base URL of links, the SMTP server, token lifetimes.

Every setting has a default, so a project updated from a release without mail starts as before; production only
refuses plain SMTP to a remote host (deploy.E027) and plain-HTTP links to a remote host (deploy.E028).
"""

import ipaddress
from collections.abc import Callable
from email.utils import parseaddr
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from .checks import Finding
from .defaults import PROJECT_SLUG
from .rate_limits import RateLimit

SmtpTls = Literal["starttls", "tls", "none"]


class MailSettings(BaseSettings):
    # Where links in mails point: the site users open, never the Host of the request that asked for the mail.
    public_base_url: str = "http://localhost:8000"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # starttls: upgrade on SMTP_PORT (587) and refuse a server that cannot; tls: TLS from the first byte (465).
    smtp_tls: SmtpTls = "starttls"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=120)
    mail_from: str = f"{PROJECT_SLUG} <no-reply@localhost>"

    password_reset_ttl_seconds: int = Field(default=1_800, ge=60, le=86_400)
    email_verification_ttl_seconds: int = Field(default=86_400, ge=300, le=604_800)
    # Whether an account must have followed its verification link before it may log in.
    email_verification_required: bool = True

    # Reset requests per client, and per email address asked about (known or not: the same budget either way).
    rate_limit_password_reset: RateLimit = "10/hour"  # noqa: S105  (a rate limit, not a password)
    rate_limit_password_reset_account: RateLimit = "3/hour"  # noqa: S105
    # Verification re-sends, per client and per email address.
    rate_limit_verification_resend: RateLimit = "5/hour"

    # The outbox: how often a sender looks for mail, and how failed deliveries are retried.
    mail_poll_seconds: float = Field(default=5.0, gt=0, le=300)
    mail_retry_seconds: float = Field(default=30.0, gt=0, le=3_600)
    mail_retry_max_seconds: float = Field(default=1_800.0, gt=0, le=86_400)
    mail_max_attempts: int = Field(default=12, ge=1, le=100)

    @field_validator("smtp_username", "smtp_password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty SMTP_USERNAME or SMTP_PASSWORD (as `.env.example` has them) means: no login."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @field_validator("public_base_url")
    @classmethod
    def _base_url_is_an_origin(cls, value: str) -> str:
        """An absolute http(s) URL, optionally with a path; nothing a link could not be appended to."""
        url = urlsplit(value.strip())
        if url.scheme not in {"http", "https"} or not url.hostname or url.query or url.fragment or url.username:
            msg = "PUBLIC_BASE_URL must be an http(s) URL like https://app.example.com, without query or credentials"
            raise ValueError(msg)
        return value.strip().rstrip("/")

    @field_validator("mail_from")
    @classmethod
    def _sender_is_an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1] or any(char in value for char in "\r\n"):
            msg = "MAIL_FROM must be an address like 'My Service <no-reply@example.com>'"
            raise ValueError(msg)
        return value


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine: traffic to it never crosses a network."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _plain_smtp(settings: MailSettings) -> Finding | None:
    """Mails carry live reset links, and the login to the server its password: neither crosses a network in clear."""
    if settings.smtp_tls == "none" and not is_loopback(settings.smtp_host):
        return Finding(
            "deploy.E027",
            f"SMTP_TLS is none but SMTP_HOST {settings.smtp_host} is not this machine: reset links and the SMTP "
            "password would cross the network unencrypted.",
            "set SMTP_TLS=starttls (port 587) or SMTP_TLS=tls (port 465), or relay through a server on localhost.",
        )
    return None


def _plain_links(settings: MailSettings) -> Finding | None:
    """A reset link over plain HTTP gives its token to anyone on the path between the user and the site."""
    url = urlsplit(settings.public_base_url)
    if url.scheme != "https" and not is_loopback(url.hostname or ""):
        return Finding(
            "deploy.E028",
            f"PUBLIC_BASE_URL {settings.public_base_url} is not https://: the tokens in mailed links would be sent "
            "in clear.",
            "set PUBLIC_BASE_URL to the https:// address users open, e.g. https://app.example.com.",
        )
    return None


CHECKS: tuple[Callable[[MailSettings], Finding | None], ...] = (_plain_smtp, _plain_links)
