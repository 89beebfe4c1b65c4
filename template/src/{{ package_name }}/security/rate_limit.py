"""Rate limits on moving windows, through the `limits` library: what every store offers, and what it raises.

Each limit is keyed by what it protects: the client address for login, register and refresh, the submitted
username for failed logins. A login takes one slot of each before the password is checked; a failed login keeps
the username's slot and a successful one gives it back, so concurrent guesses at one username, from any number of
clients, never get past the limit while their passwords are being checked. `rate_limit_store.py` keeps the
counters: in process memory, or in a Redis shared by every process.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

from limits import RateLimitItem, parse

from ..settings import Settings


class RateLimitExceededError(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class RateLimitUnavailableError(Exception):
    """The counter store cannot be reached; guarded routes answer 503."""


@dataclass(frozen=True, slots=True)
class Limits:
    login: RateLimitItem
    login_account: RateLimitItem
    register: RateLimitItem
    refresh: RateLimitItem

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            login=parse(settings.rate_limit_login),
            login_account=parse(settings.rate_limit_login_account),
            register=parse(settings.rate_limit_register),
            refresh=parse(settings.rate_limit_refresh),
        )


class LoginAttempt:
    """A login between its rate-limit check and its outcome.

    Use it as `async with attempt:` around the password check and call `succeeded()` once the password is right:
    leaving the block any other way counts a failed login for the username.
    """

    def __init__(self, end: Callable[[bool], Awaitable[None]]) -> None:
        self._end = end
        self._succeeded = False

    def succeeded(self) -> None:
        self._succeeded = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self._end(self._succeeded)


@runtime_checkable
class RateLimiter(Protocol):
    """What routes use of a rate-limit store, whichever this project was rendered with."""

    limits: Limits

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        """Count one attempt; raise RateLimitExceededError when the window is already full."""

    async def start_login(self, client: str, username: str) -> LoginAttempt:
        """Count the client's login attempt and hold one of the username's failed-login slots."""

    async def healthy(self) -> bool:
        """Whether the counters can be reached (the readiness probe)."""

    async def aclose(self) -> None:
        """Release the store's connections at shutdown."""
