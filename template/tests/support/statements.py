"""What the app's database connections send to the server while a block runs, and whether a transaction was open.

Statements made through SQLAlchemy are seen by its `after_cursor_execute` event. Reads made straight on the driver
(`db.engine.DriverReader`) and the BEGIN and ROLLBACK of a transaction are not, so on asyncpg each pooled
connection's own query log is read instead, and on aiosqlite SQLite's trace callback, from checkout to the end.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_


@dataclass(frozen=True)
class SentStatement:
    sql: str
    # After the statement, as the driver says (asyncpg, aiosqlite); None where it does not say (asyncmy).
    in_transaction: bool | None


def _in_transaction(driver: Any) -> bool | None:
    state = getattr(driver, "is_in_transaction", None) or getattr(driver, "in_transaction", None)
    if state is None:
        return None
    return bool(state() if callable(state) else state)


@asynccontextmanager
async def statements_sent(engine: AsyncEngine) -> AsyncIterator[list[SentStatement]]:
    sent: list[SentStatement] = []
    logging_drivers: dict[int, tuple[Any, Any]] = {}  # id of the driver connection: it, and its query logger
    tracing_drivers: dict[int, Any] = {}  # aiosqlite connections with a trace callback

    def on_query(driver: Any, record: Any) -> None:
        sent.append(SentStatement(record.query, _in_transaction(driver)))

    def on_traced(driver: Any, sql: str) -> None:  # in aiosqlite's thread, right after SQLite ran the statement
        sent.append(SentStatement(sql, _in_transaction(driver)))

    def on_checkout(dbapi_connection: Any, *_args: object) -> None:
        driver = dbapi_connection.driver_connection
        if hasattr(driver, "add_query_logger") and id(driver) not in logging_drivers:
            logger = partial(on_query, driver)
            driver.add_query_logger(logger)
            logging_drivers[id(driver)] = (driver, logger)
        elif hasattr(driver, "set_trace_callback") and id(driver) not in tracing_drivers:
            await_(driver.set_trace_callback(partial(on_traced, driver)))  # checkout runs in SQLAlchemy's greenlet
            tracing_drivers[id(driver)] = driver

    def on_statement(connection: Any, _cursor: Any, statement: str, *_args: object) -> None:
        driver = connection.connection.dbapi_connection.driver_connection
        if id(driver) not in logging_drivers and id(driver) not in tracing_drivers:
            sent.append(SentStatement(statement, _in_transaction(driver)))

    sync_engine = engine.sync_engine
    event.listen(sync_engine.pool, "checkout", on_checkout)
    event.listen(sync_engine, "after_cursor_execute", on_statement)
    try:
        yield sent
        await asyncio.sleep(0)  # asyncpg hands its query log to the callbacks on the next turn of the loop
    finally:
        event.remove(sync_engine, "after_cursor_execute", on_statement)
        event.remove(sync_engine.pool, "checkout", on_checkout)
        for driver, logger in logging_drivers.values():
            driver.remove_query_logger(logger)
        for driver in tracing_drivers.values():
            await driver.set_trace_callback(None)
