"""The service's settings: one typed object, read from the environment and `.env`.

`Settings` is composed of the part every project has (`base.py`) and one part per choice made at `copier copy`:
the database (`database.py`), the rate-limit store (`rate_limit_store.py`) and the secret backend
(`secret_backend.py`); account recovery's mail has a part of its own (`mail.py`). Each part brings its own
settings, validators and deploy checks. The project's own settings are `extensions/settings.py`, which the template
creates once and never updates.
"""

from functools import lru_cache

from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from ..extensions.settings import ExtensionSettings
from .base import CoreSettings, PasswordAlgorithm
from .database import DatabaseSettings
from .errors import ConfigurationError
from .mail import MailSettings
from .rate_limit_store import RateLimitStoreSettings
from .secret_backend import SecretBackendSettings

__all__ = ["ConfigurationError", "PasswordAlgorithm", "Settings", "get_settings", "load_settings"]


class Settings(
    ExtensionSettings, SecretBackendSettings, RateLimitStoreSettings, DatabaseSettings, MailSettings, CoreSettings
):
    """Every setting the service reads; names match the environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )


def load_settings() -> Settings:
    """Read the settings, turning validation errors into lines that name the setting and never echo its value."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            name = ".".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            setting = name or message.split(" ", 1)[0]  # a rule across settings names its setting first
            line = f"{name}: {message}" if name else message
            problems.append(line + Settings.origin_of(setting, missing=error["type"] == "missing"))
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
