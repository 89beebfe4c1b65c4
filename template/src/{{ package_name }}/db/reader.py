"""Single reads outside any transaction: the access check that every authenticated request makes.

Each database's `engine.py` gives its `create_reader`; this module has the shape they share and the reader
that goes through SQLAlchemy Core, for drivers where that already costs one trip and nothing else.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncEngine


class Reader(Protocol):
    """Reads the first row of a SELECT on the app engine's pool, in no transaction and with no ORM session."""

    async def first(self, statement: Select[*tuple[Any, ...]], parameters: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row, its columns in the order of the statement's, or None when there is none."""
        ...


class EngineReader:
    """A reader through SQLAlchemy Core, on the engine's own connections and error handling."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def first(self, statement: Select[*tuple[Any, ...]], parameters: Mapping[str, Any]) -> Sequence[Any] | None:
        async with self._engine.connect() as connection:
            return (await connection.execute(statement, parameters)).first()
