"""Time-based one-time passwords (RFC 6238) through pyotp: 6 digits, 30-second steps, SHA-1, as every app reads them.

A code is accepted for its own time step and the one on either side (a clock off by up to 30 seconds), and only
once: a credential records the last step a code was accepted for, and a code is taken by a conditional UPDATE that
moves it forward (`claim_step`). So a code seen over a shoulder or in a proxy's log is refused, and so is any code
of an earlier step, even when two requests bring the same code at the same moment: exactly one UPDATE matches.
"""

import hmac
import time
import uuid

import pyotp
import segno
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import MfaTotpCredential

DIGITS = 6
STEP_SECONDS = 30
# Steps either side of the current one whose codes still count.
DRIFT_STEPS = 1


def new_secret() -> str:
    """A base32 secret of 160 bits from the operating system's CSPRNG (RFC 4226 recommends 160)."""
    return pyotp.random_base32()


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app reads, from the QR code or typed in."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as a QR code (segno): an `<svg>` element to show inline in a page, with no external resource."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=4)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is, within the drift allowed; None when it is none of them."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = _totp(secret)
    step = current_step(now)
    matched = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        # Every candidate is compared, in constant time: the answer's timing says nothing about which one matched.
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            matched = candidate
    return matched


async def claim_step(db: AsyncSession, credential_id: uuid.UUID, step: int) -> bool:
    """Record that a code of `step` was accepted; False when this step, or a later one, was accepted before."""
    claimed = await db.execute(
        update(MfaTotpCredential)
        .where(
            MfaTotpCredential.id == credential_id,
            or_(MfaTotpCredential.last_used_step.is_(None), MfaTotpCredential.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
