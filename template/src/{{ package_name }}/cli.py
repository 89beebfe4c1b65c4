"""Operator commands: `python -m <package> check-deploy` and `python -m <package> create-admin --email E`."""

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr
from sqlalchemy import select

from .core import audit
from .core.config import ConfigurationError, load_settings
from .core.deploy_checks import run_deploy_checks
from .core.logging import configure_logging
from .core.password_policy import password_problem
from .core.passwords import PasswordHasher
from .db import create_engine, create_sessionmaker
from .models import User


def check_deploy() -> int:
    """Print every insecure production setting with its ID and fix; exit 1 when there is any."""
    findings = run_deploy_checks(load_settings())
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


async def _create_admin(email: str, password: str) -> None:
    settings = load_settings()
    configure_logging(settings.log_level)
    engine = create_engine(settings)
    pepper = settings.password_pepper.get_secret_value().encode() if settings.password_pepper else None
    hasher = PasswordHasher(settings.password_hasher, pepper=pepper)
    try:
        async with create_sessionmaker(engine)() as db:
            if await db.scalar(select(User.id).where(User.email == email)) is not None:
                raise SystemExit(f"create-admin: a user with email {email} already exists")
            user = User(email=email, hashed_password=await hasher.hash(password), is_admin=True)
            db.add(user)
            await db.commit()
            audit.record(audit.ADMIN_CREATED, user_id=user.id, client="cli")
    finally:
        await engine.dispose()


def create_admin(email: str) -> int:
    try:
        address = TypeAdapter(EmailStr).validate_python(email).lower()
    except ValidationError:
        raise SystemExit(f"create-admin: {email!r} is not a valid email address") from None
    password = _read_password()
    if problem := password_problem(password, load_settings().password_min_length):
        raise SystemExit(f"create-admin: {problem}")
    asyncio.run(_create_admin(address, password))
    print(f"Created admin {address}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=__package__, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-deploy", help="list insecure production settings; exit 1 when there is any")
    admin = commands.add_parser("create-admin", help="create an admin account (password from a prompt or stdin)")
    admin.add_argument("--email", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "check-deploy":
            return check_deploy()
        return create_admin(args.email)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
