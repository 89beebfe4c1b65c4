"""Rate limits on moving windows, through the `limits` library: what every store offers, and what it raises.

Each limit is keyed by what it protects. Per client (`client_keys.py`: an IPv4 address, or an IPv6 network of
RATE_LIMIT_IPV6_PREFIX bits): RATE_LIMIT_LOGIN counts every password check (login, password change), and register
and refresh have their own windows. Per account (a keyed hash of the email, `device_tokens.py`):
RATE_LIMIT_LOGIN_ACCOUNT counts failed password checks, in one budget for every client without a device token of
that account, and in a budget of its own for each device that presents one (OWASP's device cookies): guesses from
anywhere lock out only the untrusted clients, and the owner's devices still get in. RATE_LIMIT_MFA counts
every second-factor attempt of an account, right or wrong (`services/mfa.py`): only who knows the password gets
that far. Password reset requests and verification re-sends are counted per client and per email address asked
about, known or not (`api/routes/recovery.py`).

A password check takes its client's slot and one slot of its account budget before the password is checked, and
holds the account slot while it runs: concurrent guesses, from any number of clients, never get past the budget.
Only a wrong password (or an unknown or disabled account) keeps the slot; a right one, and a check that fails for
a server reason (the database or the store down: 503), gives it back. At most PASSWORD_CHECKS_PER_ACCOUNT checks of
one account hash at once in this process, so one account cannot take the hashing capacity that other users' logins
need. `rate_limit_store.py` keeps the counters: in process memory, or in a Redis shared by every process.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

import anyio
from limits import RateLimitItem, parse

from ..settings import Settings
from .client_keys import client_key
from .device_tokens import AccountKeys, DeviceTokens

DAY_SECONDS = 86_400


class RateLimitExceededError(Exception):
    """A window is full: `limit` names it (login, login_account, login_device, register, refresh, mfa_account), and
    `account_hash` the account the request was about, if any."""

    def __init__(self, retry_after: int, limit: str = "", account_hash: str | None = None) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after
        self.limit = limit
        self.account_hash = account_hash


class RateLimitUnavailableError(Exception):
    """The counter store cannot be reached; guarded routes answer 503."""


@dataclass(frozen=True, slots=True)
class Limits:
    login: RateLimitItem
    login_account: RateLimitItem
    register: RateLimitItem
    refresh: RateLimitItem
    mfa: RateLimitItem
    password_reset: RateLimitItem
    password_reset_account: RateLimitItem
    verification_resend: RateLimitItem

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            login=parse(settings.rate_limit_login),
            login_account=parse(settings.rate_limit_login_account),
            register=parse(settings.rate_limit_register),
            refresh=parse(settings.rate_limit_refresh),
            mfa=parse(settings.rate_limit_mfa),
            password_reset=parse(settings.rate_limit_password_reset),
            password_reset_account=parse(settings.rate_limit_password_reset_account),
            verification_resend=parse(settings.rate_limit_verification_resend),
        )


@dataclass(frozen=True, slots=True)
class Window:
    """One window of one limit: `name` is the limit's (for the throttle event), `key` what it is counted by."""

    name: str
    item: RateLimitItem
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckWindows:
    """The windows one password check counts in, and whose they are."""

    per_client: Window
    budget: Window
    account_hash: str
    trusted_device: bool


class Keys:
    """What a store keys its windows by: the client's network, the account's keyed hash, the device's nonce."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.get_secret_value().encode()
        self.limits = Limits.from_settings(settings)
        self.accounts = AccountKeys(secret)
        self.devices = DeviceTokens(secret, settings.device_token_ttl_days * DAY_SECONDS)
        self.ipv6_prefix = settings.rate_limit_ipv6_prefix

    def client(self, address: str) -> str:
        return client_key(address, self.ipv6_prefix)

    def password_check(self, client: str, email: str, device_token: str | None) -> CheckWindows:
        """The client's window and the account budget this check counts in: the device's, when its token is valid."""
        account = self.accounts.of(email)
        per_client = Window("login", self.limits.login, ("login", self.client(client)))
        if (device := self.devices.device_of(device_token, account)) is not None:
            budget = Window("login_device", self.limits.login_account, ("login-device", account, device))
        else:
            budget = Window("login_account", self.limits.login_account, ("login-account", account))
        return CheckWindows(per_client, budget, account, trusted_device=device is not None)


class AccountGates:
    """At most `permits` password checks of one account at a time in this process; the others wait their turn."""

    def __init__(self, permits: int) -> None:
        self._permits = permits
        self._gates: dict[str, tuple[asyncio.Semaphore, int]] = {}

    async def enter(self, account: str) -> None:
        gate, users = self._gates.get(account) or (asyncio.Semaphore(self._permits), 0)
        self._gates[account] = (gate, users + 1)
        try:
            await gate.acquire()
        except BaseException:
            self._leave(account, acquired=False)
            raise

    def leave(self, account: str) -> None:
        self._leave(account, acquired=True)

    def _leave(self, account: str, *, acquired: bool) -> None:
        gate, users = self._gates[account]
        if acquired:
            gate.release()
        if users <= 1:
            del self._gates[account]  # an account nobody checks costs no memory
        else:
            self._gates[account] = (gate, users - 1)


class PasswordCheck:
    """A password check between its rate-limit slots and its outcome.

    Use it as `async with check:` around the password check, and call `failed()` as soon as the check says the
    password is wrong (or the account unknown or disabled): only then does the check keep its slot of the account
    budget. `succeeded()` marks a right password; leaving the block any other way (a 503 for an outage, a refused
    new password) gives the slot back too. The block also waits for the account's gate (PASSWORD_CHECKS_PER_ACCOUNT).
    """

    def __init__(
        self,
        end: Callable[[bool], Awaitable[None]],
        *,
        gates: AccountGates,
        devices: DeviceTokens,
        account_hash: str,
        trusted_device: bool,
    ) -> None:
        self._end = end
        self._gates = gates
        self._devices = devices
        self.account_hash = account_hash
        self.trusted_device = trusted_device
        self._failed = False
        self._succeeded = False

    def failed(self) -> None:
        self._failed = True

    def succeeded(self) -> None:
        self._succeeded = True

    def new_device_token(self) -> str:
        """A device token for this account, to give the client once the password was right."""
        if not self._succeeded:
            msg = "a device token is given only after a successful check"
            raise RuntimeError(msg)
        return self._devices.issue(self.account_hash)

    @property
    def device_token_ttl_seconds(self) -> int:
        return self._devices.ttl_seconds

    async def __aenter__(self) -> Self:
        try:
            await self._gates.enter(self.account_hash)
        except BaseException:
            await self._finish(failed=False)
            raise
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        self._gates.leave(self.account_hash)
        await self._finish(failed=self._failed and not self._succeeded)

    async def _finish(self, *, failed: bool) -> None:
        # Shielded: a request cancelled during its check (a client gone, a shutdown) still settles its slot.
        with anyio.CancelScope(shield=True):
            await self._end(failed)


@runtime_checkable
class RateLimiter(Protocol):
    """What routes use of a rate-limit store, whichever this project was rendered with."""

    limits: Limits

    async def hit(self, item: RateLimitItem, scope: str, client: str) -> None:
        """Count one request of `client` (a peer address) in window `scope`; raise RateLimitExceededError if full."""

    async def start_password_check(self, client: str, email: str, device_token: str | None) -> PasswordCheck:
        """Count the client's password check and hold a slot of the account budget it belongs to."""

    async def healthy(self) -> bool:
        """Whether the counters can be reached (the readiness probe)."""

    async def aclose(self) -> None:
        """Release the store's connections at shutdown."""
