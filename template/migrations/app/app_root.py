"""The root of your migrations: the branch `app`, in this folder. The template never changes this folder.

Create a revision on it, with the tables of `extensions/models.py`, and apply every branch:

    alembic revision --autogenerate --head app@head -m "add widgets"
    alembic upgrade heads

The template's revisions are on the branch `template`, in migrations/versions/. Neither branch is ever based on the
other's head, so an update of the template can never give a branch two heads: never run `alembic merge`. This root
depends on the template's first revision, so your tables may refer to `users`.

Revision ID: app_root
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

revision: str = "app_root"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("app",)
depends_on: str | Sequence[str] | None = "0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
