"""The caller's own account, and the admin's view of all accounts."""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select

from ...models import User
from ...schemas import AdminUserUpdateIn, PasswordChangeIn, UserOut, UserUpdateIn
from ...services.accounts import SelfLockoutError, UserNotFoundError, WrongPasswordError
from ..deps import Accounts, AdminUser, CurrentPrincipal, CurrentUser, DbSession

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
async def change_password(body: PasswordChangeIn, principal: CurrentPrincipal, accounts: Accounts) -> Response:
    try:
        await accounts.change_password(
            principal.user, body.current_password, body.new_password, keep_session=principal.session_id
        )
    except WrongPasswordError:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail="Current password is incorrect.") from None
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
async def update_user(user_id: uuid.UUID, body: AdminUserUpdateIn, admin: AdminUser, accounts: Accounts) -> User:
    try:
        return await accounts.set_active(admin, user_id, active=body.is_active)
    except UserNotFoundError:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="User not found.") from None
    except SelfLockoutError:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="Admins cannot disable themselves.") from None
