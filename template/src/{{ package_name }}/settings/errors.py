"""The one way settings refuse to start the service."""


class ConfigurationError(SystemExit):
    """Raised instead of starting with settings that are missing or unsafe; the message is one line per problem."""
