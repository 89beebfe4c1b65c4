"""Operator commands: `python -m <package> check-deploy`, `create-admin --email E` and `outbox`."""

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from sqlalchemy import select

from .db.engine import create_engine
from .db.privileges import role_findings
from .db.session import create_sessionmaker
from .models import OutboxMail
from .observability.logging import configure_logging
from .security.emails import normalize_email
from .security.passwords import PasswordHasher
from .services.accounts import AccountService, EmailTakenError, PasswordRejectedError
from .settings import ConfigurationError, Settings, load_settings
from .settings.deploy_checks import run_deploy_checks


def check_deploy(*, settings_only: bool = False) -> int:
    """Print every insecure production setting with its ID and fix; exit 1 when there is any.

    Unless `settings_only`, it also connects with DATABASE_URL to see what the app's role may do (db/privileges.py).
    """
    settings = load_settings()
    findings = run_deploy_checks(settings)
    if not settings_only:
        findings = sorted([*findings, *asyncio.run(role_findings(settings))], key=lambda finding: finding.id)
    for finding in findings:
        print(finding)
    if not findings:
        print("No deployment problems found.")
    return 1 if findings else 0


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise SystemExit("create-admin: the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


async def _create_admin(settings: Settings, email: str, password: str) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            accounts = AccountService(
                db,
                PasswordHasher.from_settings(settings),
                settings.password_min_length,
                "cli",
                service_name=settings.project_name,
            )
            await accounts.register(email, password, is_admin=True)
    except PasswordRejectedError as exc:
        raise SystemExit(f"create-admin: {exc.reason}") from None
    except EmailTakenError:
        raise SystemExit(f"create-admin: a user with email {email} already exists") from None
    finally:
        await engine.dispose()


def create_admin(email: str) -> int:
    try:
        address = normalize_email(email)  # the spelling register and login use
    except ValueError:
        raise SystemExit(f"create-admin: {email!r} is not a valid email address") from None
    settings = load_settings()
    configure_logging(settings.log_level)
    asyncio.run(_create_admin(settings, address, _read_password()))
    print(f"Created admin {address}.")
    return 0


async def _unsent_mail(settings: Settings) -> list[OutboxMail]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            unsent = select(OutboxMail).where(OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None))
            return list(await db.scalars(unsent.order_by(OutboxMail.created_at)))
    finally:
        await engine.dispose()


def outbox(*, bodies: bool = False) -> int:
    """List the mails not sent yet: to whom, what, how many attempts, the last error's class.

    With `bodies`, outside production only, print each body too: without a mail server in development, this is how
    a verification or reset link is followed. A production body holds a live link for someone else's account.
    """
    settings = load_settings()
    if bodies and settings.app_env == "production":
        raise SystemExit("outbox: --bodies is refused in production: the bodies hold live links to users' accounts")
    mails = asyncio.run(_unsent_mail(settings))
    for mail in mails:
        state = f"{mail.attempts} attempts" + (f", last error {mail.last_error}" if mail.last_error else "")
        print(f"{mail.created_at:%Y-%m-%d %H:%M:%S} to {mail.recipient}: {mail.subject} ({state})")
        if bodies:
            print(f"\n{mail.body}")
    print(f"{len(mails)} mail{'s' if len(mails) != 1 else ''} waiting.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=__package__, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("check-deploy", help="list insecure production settings; exit 1 when there is any")
    deploy.add_argument(
        "--settings-only", action="store_true", help="judge the settings alone, without connecting to the database"
    )
    admin = commands.add_parser("create-admin", help="create an admin account (password from a prompt or stdin)")
    admin.add_argument("--email", required=True)
    mail = commands.add_parser("outbox", help="list the mails not sent yet (SMTP down, or none in development)")
    mail.add_argument("--bodies", action="store_true", help="print their bodies and links too (not in production)")
    args = parser.parse_args(argv)
    try:
        if args.command == "check-deploy":
            return check_deploy(settings_only=args.settings_only)
        if args.command == "outbox":
            return outbox(bodies=args.bodies)
        return create_admin(args.email)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
