"""Which failures mean the database cannot serve now (answer 503), as opposed to a bug (500)."""

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from .engine import is_unavailable


def is_outage(exc: Exception) -> bool:
    """A database or network that cannot be reached, or a pool with no connection to spare."""
    if isinstance(exc, DBAPIError):
        return is_unavailable(exc)
    return isinstance(exc, (PoolTimeoutError, OSError))
