"""The raw floor: GET /api/v1/users/me with the least an authenticated, database-checked route can do.

A bare Starlette route decodes the bearer JWT with PyJWT (HS256, the same SECRET_KEY, exp/aud/iss verified) and
reads the user with one SELECT by primary key, straight on the driver: an asyncpg pool on PostgreSQL, one aiosqlite
connection on SQLite. No ORM, no dependency injection, no middleware, no session check, no response model. Nothing
written in Python can answer this route for much less, so the whole stack's ratio to it says what the framework,
the security layers and the session check cost together.

Settings come from the same environment variables as the service: SECRET_KEY, DATABASE_URL, JWT_ISSUER,
JWT_AUDIENCE, and DATABASE_POOL_SIZE for the asyncpg pool.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SECRET_KEY = os.environ["SECRET_KEY"]
DATABASE_URL = os.environ["DATABASE_URL"]
JWT_ISSUER = os.environ.get("JWT_ISSUER", "my-service")
JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE", "my-service-api")
POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "32"))

COLUMNS = "id, email, full_name, is_active, is_admin, created_at"
UNAUTHORIZED = JSONResponse({"detail": "Could not validate credentials"}, status_code=401)
NOT_FOUND = JSONResponse({"detail": "Not Found"}, status_code=404)


class PostgreSQL:
    """An asyncpg pool as large as the service's, with the one statement prepared on each connection."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.pool: Any = None

    async def start(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.url, min_size=POOL_SIZE, max_size=POOL_SIZE, ssl=False)

    async def user(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(f"SELECT {COLUMNS} FROM users WHERE id = $1", user_id)  # noqa: S608
        return dict(row) if row is not None else None

    async def stop(self) -> None:
        await self.pool.close()


class SQLite:
    """One aiosqlite connection: SQLite serialises access to the file anyway."""

    def __init__(self, url: str) -> None:
        self.path = url.split(":///", 1)[1]
        self.connection: Any = None

    async def start(self) -> None:
        import aiosqlite

        self.connection = await aiosqlite.connect(self.path)
        self.connection.row_factory = aiosqlite.Row

    async def user(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        # SQLAlchemy's Uuid type stores a UUID as 32 hex digits in a CHAR(32) on SQLite.
        cursor = await self.connection.execute(f"SELECT {COLUMNS} FROM users WHERE id = ?", (user_id.hex,))  # noqa: S608
        row = await cursor.fetchone()
        await cursor.close()
        if row is None:
            return None
        found = dict(row)
        found["id"] = uuid.UUID(found["id"])
        found["is_active"], found["is_admin"] = bool(found["is_active"]), bool(found["is_admin"])
        found["created_at"] = datetime.fromisoformat(found["created_at"])
        return found

    async def stop(self) -> None:
        await self.connection.close()


database = PostgreSQL(DATABASE_URL) if DATABASE_URL.startswith("postgresql") else SQLite(DATABASE_URL)


async def me(request: Request) -> JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return UNAUTHORIZED
    try:
        claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER)
        user_id = uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError):
        return UNAUTHORIZED
    user = await database.user(user_id)
    if user is None or not user["is_active"]:
        return UNAUTHORIZED
    user["id"] = str(user["id"])
    user["created_at"] = user["created_at"].isoformat()
    return JSONResponse(user)


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    await database.start()
    yield
    await database.stop()


app = Starlette(routes=[Route("/api/v1/users/me", me)], lifespan=lifespan)
