"""The caller's own account, and the admin's view of all accounts."""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select

from ...core import audit
from ...core.password_policy import password_problem
from ...core.session_store import revoke_user_sessions
from ...models import User
from ...schemas import AdminUserUpdateIn, PasswordChangeIn, UserOut, UserUpdateIn
from ..deps import AdminUser, ClientAddress, CurrentPrincipal, CurrentUser, DbSession, PasswordsDep, SettingsDep
from ..errors import policy_error

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserOut)
async def read_me(user: CurrentUser) -> User:
    return user


@router.patch("/me", response_model=UserOut)
async def update_me(body: UserUpdateIn, user: CurrentUser, db: DbSession) -> User:
    if "full_name" in body.model_fields_set:
        user.full_name = body.full_name or None
    await db.commit()
    return user


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChangeIn,
    principal: CurrentPrincipal,
    db: DbSession,
    passwords: PasswordsDep,
    settings: SettingsDep,
    client: ClientAddress,
) -> Response:
    user = principal.user
    valid, _ = await passwords.verify_and_update(body.current_password, user.hashed_password)
    if not valid:
        audit.record(audit.CREDENTIALS_CHANGE_FAILED, user_id=user.id, client=client)
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail="Current password is incorrect.")
    if problem := password_problem(body.new_password, settings.password_min_length):
        raise policy_error("new_password", problem)
    user.hashed_password = await passwords.hash(body.new_password)
    await revoke_user_sessions(db, user.id, keep=principal.session_id)
    await db.commit()
    audit.record(audit.CREDENTIALS_CHANGED, user_id=user.id, client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=list[UserOut])
async def list_users(
    _admin: AdminUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[User]:
    result = await db.scalars(select(User).order_by(User.created_at, User.id).limit(limit).offset(offset))
    return list(result)


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(
    user_id: uuid.UUID, body: AdminUserUpdateIn, admin: AdminUser, db: DbSession, client: ClientAddress
) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="User not found.")
    if user.id == admin.id and not body.is_active:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="Admins cannot disable themselves.")
    user.is_active = body.is_active
    if not body.is_active:
        await revoke_user_sessions(db, user.id)
    await db.commit()
    audit.record(
        audit.ADMIN_USER_UPDATE, user_id=admin.id, client=client, target=str(user.id), is_active=body.is_active
    )
    return user
