"""Your settings. `Settings` includes this class, so its fields are read from the environment and `.env` like the
template's (`get_settings().your_field`). The template creates this file once and never updates it."""

from pydantic_settings import BaseSettings


class ExtensionSettings(BaseSettings):
    """Settings of your own code; names match the environment variables."""
