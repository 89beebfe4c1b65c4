"""The baseline: GET /api/v1/users/me as a typical hand-written FastAPI + PyJWT + SQLAlchemy-async service does it.

Decode the bearer JWT (HS256, the same SECRET_KEY, exp/aud/iss verified), load the user by primary key with one
query through an AsyncSession, return it through a pydantic response model. No middleware, no session table, no
token-type check. It reads the same database as the rendered service (run.py migrates and fills it).

Settings come from the same environment variables as the service: SECRET_KEY, DATABASE_URL, JWT_ISSUER and
JWT_AUDIENCE.
"""

import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Boolean, DateTime, String, Uuid
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SECRET_KEY = os.environ["SECRET_KEY"]
DATABASE_URL = os.environ["DATABASE_URL"]
JWT_ISSUER = os.environ.get("JWT_ISSUER", "my-service")
JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE", "my-service-api")

# SQLite keeps SQLAlchemy's default pool. On PostgreSQL the pool is sized for the 32 clients run.py sends, as anyone
# tuning a service for that load would (the default 5 + 10 overflow would open and close connections all run long),
# and TLS is off, as it is for the rendered service on loopback (DATABASE_SSL_MODE=disable).
POOL: dict[str, Any] = {}
if DATABASE_URL.startswith("postgresql"):
    POOL = {
        "pool_size": int(os.environ.get("BASELINE_POOL_SIZE", "32")),
        "max_overflow": 8,
        "connect_args": {"ssl": False},
    }
engine = create_async_engine(DATABASE_URL, **POOL)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    hashed_password: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    is_active: bool
    is_admin: bool
    created_at: datetime


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login")

credentials_exception = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Could not validate credentials",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


async def get_current_user(
    token: Annotated[str, Depends(oauth2_scheme)], db: Annotated[AsyncSession, Depends(get_db)]
) -> User:
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER)
        user_id = uuid.UUID(payload["sub"])
    except (jwt.PyJWTError, KeyError, ValueError):
        raise credentials_exception from None
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        raise credentials_exception
    return user


app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/api/v1/users/me", response_model=UserOut)
async def read_me(user: Annotated[User, Depends(get_current_user)]) -> User:
    return user
