"""The database layer: the table base (`base.py`), the engine of this project's database (`engine.py`),
sessions, and the reader of the access check (`reader.py`).

Each database the template supports has its own `engine.py` and `privileges.py`; `DatabaseEngine` and
`DatabasePrivileges` state what every one of them offers.
"""

from typing import Protocol, runtime_checkable

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..settings import Settings
from ..settings.checks import Finding
from .reader import Reader


@runtime_checkable
class DatabaseEngine(Protocol):
    """The module `engine.py`, whichever database it is for."""

    def create_engine(self, settings: Settings) -> AsyncEngine:
        """The app's engine, with the pool and timeouts the settings ask for."""

    def create_reader(self, engine: AsyncEngine) -> Reader:
        """Single reads on `engine`'s pool, outside any transaction where the driver allows: the access check's."""

    def create_migration_engine(self, settings: Settings) -> AsyncEngine:
        """Alembic's engine: like the app's, without limits a long migration would hit."""

    def is_unavailable(self, exc: DBAPIError) -> bool:
        """Whether the error means the database cannot serve now (503), as opposed to a bug (500)."""


@runtime_checkable
class DatabasePrivileges(Protocol):
    """The module `privileges.py`, whichever database it is for."""

    async def role_findings(self, settings: Settings) -> list[Finding]:
        """What check-deploy reports about DATABASE_URL's role, asked of the server (none where there are no roles)."""
