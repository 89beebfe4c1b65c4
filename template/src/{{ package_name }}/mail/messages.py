"""The mails account recovery sends, as plain text. Links are built from PUBLIC_BASE_URL alone.

Never from the request: a Host or X-Forwarded-Host header chosen by an attacker would otherwise point a victim's
reset link at the attacker's site (reset poisoning). A link carries its token in the fragment (`#token=...`), which
browsers send to no server, so it stays out of access logs and Referer headers; it names no account and no address.
The page at the link reads the token and posts it to the API (README.md, "Account recovery").
"""

from dataclasses import dataclass

RESET_PATH = "/reset-password"
VERIFY_PATH = "/verify-email"


@dataclass(frozen=True, slots=True)
class Message:
    to: str
    subject: str
    body: str


def _minutes(seconds: int) -> str:
    minutes = max(1, seconds // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours > 1 else "")
    return f"{minutes} minute" + ("s" if minutes > 1 else "")


class Messages:
    """Texts for one service: its name in every subject, its public base URL in every link."""

    def __init__(self, service_name: str, public_base_url: str) -> None:
        self.service_name = service_name
        self.public_base_url = public_base_url

    def link(self, path: str, token: str) -> str:
        return f"{self.public_base_url}{path}#token={token}"

    def _with_link(self, to: str, subject: str, ask: str, path: str, token: str, ttl_seconds: int, end: str) -> Message:
        """A mail whose one action is its link: what to do, the link and its lifetime, what to do if unasked."""
        body = f"{ask}, open this link within {_minutes(ttl_seconds)}:\n\n{self.link(path, token)}\n\n{end}\n"
        return Message(to, subject, body)

    def _notice(self, to: str, subject: str, what: str) -> Message:
        """A mail that says what just happened to the account, for the owner to act on if they did not do it."""
        return Message(to, subject, f"{what}\n\nIf you did not do this, tell the service's operators at once.\n")

    def password_reset(self, to: str, token: str, ttl_seconds: int) -> Message:
        return self._with_link(
            to,
            f"Reset your {self.service_name} password",
            f"Someone asked to reset the password of your {self.service_name} account.\n\nTo choose a new password",
            RESET_PATH,
            token,
            ttl_seconds,
            "The link works once. If you did not ask for it, ignore this mail: your password stays as it is.",
        )

    def verify_email(self, to: str, token: str, ttl_seconds: int) -> Message:
        return self._with_link(
            to,
            f"Confirm your email address for {self.service_name}",
            f"To confirm that this address belongs to your {self.service_name} account",
            VERIFY_PATH,
            token,
            ttl_seconds,
            "If you did not create an account, ignore this mail.",
        )

    def confirm_new_email(self, to: str, token: str, ttl_seconds: int) -> Message:
        return self._with_link(
            to,
            f"Confirm your new email address for {self.service_name}",
            f"Someone asked to move a {self.service_name} account to this address. To confirm it",
            VERIFY_PATH,
            token,
            ttl_seconds,
            "Until then the account keeps its old address. If you did not ask for this, ignore this mail.",
        )

    def password_changed(self, to: str) -> Message:
        return self._notice(
            to,
            f"Your {self.service_name} password was changed",
            f"The password of your {self.service_name} account was just changed, and every session was signed out. "
            "If it was not you, reset your password at once.",
        )

    def email_changed(self, to: str) -> Message:
        return self._notice(
            to,
            f"Your {self.service_name} email address was changed",
            f"Your {self.service_name} account now uses another email address; this one gets no more mail from it.",
        )

    def mfa_enabled(self, to: str) -> Message:
        return self._notice(
            to,
            f"Two-step login is on for your {self.service_name} account",
            f"Your {self.service_name} account now asks for a code from an authenticator app at every login, and "
            "every other session was signed out.",
        )

    def mfa_disabled(self, to: str) -> Message:
        return self._notice(
            to,
            f"Two-step login is off for your {self.service_name} account",
            f"Your {self.service_name} account no longer asks for a code from an authenticator app at login.",
        )
