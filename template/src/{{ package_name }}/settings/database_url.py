"""What a DATABASE_URL must look like for this project's database, and what it says about the connection."""

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

_UNPARSABLE_URL = (ArgumentError, ValueError)


def _never(_url: URL) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class DatabaseDialect:
    """One database product: its async driver, the URL schemes that name it, and how a URL reaches it."""

    product: str
    driver: str
    backends: frozenset[str]
    example_url: str
    # Query parameters that would set TLS behind DATABASE_SSL_MODE's and DATABASE_SSL_CA's back.
    tls_parameters: frozenset[str] = frozenset()
    is_unix_socket: Callable[[URL], bool] = _never

    def usable_url(self, value: SecretStr) -> SecretStr:
        """The URL with this project's async driver; errors never echo it, since it holds a password."""
        try:
            url = make_url(value.get_secret_value())
        except _UNPARSABLE_URL:
            msg = f"not a database URL like {self.example_url}"
            raise ValueError(msg) from None
        if url.get_backend_name() not in self.backends:
            msg = f"this project uses {self.product}: use a URL like {self.example_url}"
            raise ValueError(msg)
        if self.tls_parameters & set(url.query):
            msg = "set TLS with DATABASE_SSL_MODE and DATABASE_SSL_CA, not in the URL"
            raise ValueError(msg)
        return SecretStr(url.set(drivername=self.driver).render_as_string(hide_password=False))

    def connects_locally(self, url: URL) -> bool:
        """Whether the connection never leaves this host: a Unix socket, or a loopback address."""
        if self.is_unix_socket(url) or url.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(url.host or "").is_loopback
        except ValueError:
            return False
