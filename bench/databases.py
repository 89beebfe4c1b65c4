"""The throwaway backends of `--database postgresql` and `--rate-limit-store redis`, and PostgreSQL connection churn.

A run gets its own PostgreSQL database and its own Redis key prefix, both removed afterwards; with the defaults it
gets a SQLite file in the run's temporary folder. With PostgreSQL the run also records how many server sessions
the targets open and hold, to show that their pools stay warm through the rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import HOST, log

if TYPE_CHECKING:
    from servers import Target

# --database postgresql: the server that holds the throwaway database (trust auth on loopback) and the Redis for the
# rate-limit counters (a database of its own, keys under a prefix unique to the run).
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
PG_PORT = 5432


@dataclass
class Backends:
    """The run's PostgreSQL database and Redis key prefix, each None when the run does not use that backend."""

    pg_database: str | None
    redis_prefix: str | None

    @classmethod
    def for_run(cls, database: str, rate_limit_store: str) -> Backends:
        run_id = secrets.token_hex(4)
        return cls(
            pg_database=f"rampart_bench_{run_id}" if database == "postgresql" else None,
            redis_prefix=f"rampart-bench-{run_id}" if rate_limit_store == "redis" else None,
        )

    def create(self, workdir: Path) -> dict[str, str]:
        """Create the PostgreSQL database if there is one; return the settings that point the service at them."""
        env = {"DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}"}
        if self.pg_database is not None:
            log(f"creating the PostgreSQL database {self.pg_database}")
            pg_admin(f'CREATE DATABASE "{self.pg_database}"')
            env["DATABASE_URL"] = f"postgresql+asyncpg://postgres@{HOST}:{PG_PORT}/{self.pg_database}"
            env["DATABASE_SSL_MODE"] = "disable"  # loopback: nothing to encrypt (deploy check deploy.E012 agrees)
        if self.redis_prefix is not None:
            env |= {"REDIS_URL": REDIS_URL, "RATE_LIMIT_KEY_PREFIX": self.redis_prefix}
        return env

    def kept(self) -> str:
        return f" and the PostgreSQL database {self.pg_database}" if self.pg_database else ""

    def drop_database(self) -> None:
        if self.pg_database is not None:
            with contextlib.suppress(Exception):
                pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
                log(f"dropped the PostgreSQL database {self.pg_database}")

    def clear_redis(self) -> None:
        if self.redis_prefix is not None:
            with contextlib.suppress(Exception):
                log(f"deleted {clear_redis_prefix(self.redis_prefix)} Redis keys under {self.redis_prefix}:")


def pg_admin(sql: str, *args: Any) -> list[Any]:
    """Run one statement on the PostgreSQL server as its administrator (outside any transaction)."""
    import asyncpg

    async def run() -> list[Any]:
        connection = await asyncpg.connect(PG_ADMIN_URL, ssl=False, timeout=5)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def pg_connections(database: str, targets: dict[str, Target]) -> dict[str, Any]:
    """The bench database's server connections now: backends, sessions ever opened, and who holds them."""
    time.sleep(2.0)  # a backend reports its session count to pg_stat_database within a second of going idle
    backends = pg_admin("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    sessions = pg_admin("SELECT sessions FROM pg_stat_database WHERE datname = $1", database)
    return {
        "backends": sorted(row["pid"] for row in backends),
        "sessions_opened": sessions[0]["sessions"] if sessions else None,
        "per_target": {name: established_connections(t, PG_PORT) for name, t in targets.items()},
    }


def established_connections(target: Target, port: int) -> int | None:
    """How many TCP connections to `port` the server process holds (Linux /proc), or None where that is unknown."""
    if target.server is None or target.server.poll() is not None:
        return None
    try:
        fds = Path(f"/proc/{target.server.pid}/fd").iterdir()
        inodes = {link[8:-1] for fd in fds if (link := os.readlink(fd)).startswith("socket:[")}
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    except OSError:
        return None
    # columns: sl local_address rem_address st ... inode (10th); state 01 is ESTABLISHED
    return sum(1 for row in rows if int(row[2].rsplit(":", 1)[1], 16) == port and row[3] == "01" and row[9] in inodes)


def churn(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    opened = None
    if before["sessions_opened"] is not None and after["sessions_opened"] is not None:
        opened = after["sessions_opened"] - before["sessions_opened"]
    return {
        "before": before,
        "after": after,
        "sessions_opened_during_rounds": opened,
        "backends_closed": len(set(before["backends"]) - set(after["backends"])),
        "backends_new": len(set(after["backends"]) - set(before["backends"])),
    }


def clear_redis_prefix(prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()
