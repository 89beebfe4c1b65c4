"""The declarative base of every table, the template's and the project's own, and its UTC timestamp type."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, declared_attr
from sqlalchemy.types import TypeDecorator, TypeEngine


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every database, including those (SQLite, MySQL) that store naive values.

    MySQL and MariaDB get DATETIME(6): their plain DATETIME drops the microseconds, and with them the order of
    rows made within one second and the exactness of expiry comparisons.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in {"mysql", "mariadb"}:
            return mysql.DATETIME(fsp=6)
        return self.impl_instance

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            msg = "naive datetime; use utcnow()"
            raise ValueError(msg)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Metadata shared by every table, the template's and the project's own.

    On MySQL and MariaDB every table is four-byte UTF-8 compared byte for byte, whatever the server's defaults:
    emails then match exactly as on PostgreSQL and SQLite (the app lowercases them), never accent- or
    case-insensitively. A model that sets its own `__table_args__` should keep these two entries.
    """

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> dict[str, Any]:
        return {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
