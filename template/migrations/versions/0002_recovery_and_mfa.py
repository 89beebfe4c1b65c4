"""Account recovery and multi-factor authentication: verified emails, one-time tokens, the mail
outbox, TOTP authenticators and recovery codes.

Accounts that exist when this revision runs count as verified since they were created: they logged in before
verification existed, and EMAIL_VERIFICATION_REQUIRED must not lock them out after an update.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in 0001: what models.py declares for MySQL and MariaDB, and nothing anywhere else.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL_TABLE: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    # Recovery: email verification, password reset and email change tokens, the mail outbox.
    op.add_column("users", sa.Column("email_verified_at", TIMESTAMP, nullable=True))
    op.execute(sa.text("UPDATE users SET email_verified_at = created_at"))
    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("new_email", sa.String(length=320), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        **MYSQL_TABLE,
    )
    op.create_index("ix_one_time_tokens_user_id", "one_time_tokens", ["user_id"], unique=False)
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("failed_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE,
    )
    op.create_index("ix_mail_outbox_next_attempt_at", "mail_outbox", ["next_attempt_at"], unique=False)
    # MFA: TOTP authenticators (secrets encrypted) and recovery codes (hashed).
    op.create_table(
        "mfa_totp_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("encrypted_secret", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("confirmed_at", TIMESTAMP, nullable=True),
        sa.Column("last_used_step", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
        **MYSQL_TABLE,
    )
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        **MYSQL_TABLE,
    )
    op.create_index("ix_mfa_recovery_codes_user_id", "mfa_recovery_codes", ["user_id"], unique=False)


def downgrade() -> None:
    # MFA
    op.drop_table("mfa_recovery_codes")
    op.drop_table("mfa_totp_credentials")
    op.drop_table("mail_outbox")
    op.drop_table("one_time_tokens")
    op.drop_column("users", "email_verified_at")
