"""The caller's own account, and the admin's view of all accounts."""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select

from ...models import User
from ...observability.audit import AuditEvent
from ...schemas import AdminUserUpdateIn, PasswordChangeIn, UserOut, UserUpdateIn
from ...security.sessions import Caller
from ...services.accounts import SelfLockoutError, UserNotFoundError
from ..deps import Accounts, AdminUser, CurrentCaller, CurrentPrincipal, CurrentUser, DbSession, StepUpDep
from ..device_tokens import DeviceTokenCookie
from ..responses import error, errors

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserOut)
async def read_me(caller: CurrentCaller) -> Caller:
    return caller


@router.patch("/me", response_model=UserOut)
async def update_me(body: UserUpdateIn, user: CurrentUser, db: DbSession) -> User:
    if "full_name" in body.model_fields_set:
        user.full_name = body.full_name or None
    await db.commit()
    return user


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **errors(429),
        400: error(
            400,
            "The current password is wrong, an MFA account's code is missing or wrong, or the request cannot be "
            "taken (its Host header or body).",
        ),
    },
)
async def change_password(
    body: PasswordChangeIn,
    principal: CurrentPrincipal,
    accounts: Accounts,
    step_up: StepUpDep,
    device_token: DeviceTokenCookie = None,
) -> Response:
    # Step-up (M04): the current password, in the same budgets as a login (E08), and the code of an MFA account.
    user = principal.user
    failure = AuditEvent.AUTHN_PASSWORD_CHANGE_FAIL
    async with step_up.confirmed(user, body.current_password, body.code, device_token, failure=failure):
        await accounts.set_password(user, body.new_password, keep_session=principal.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=list[UserOut], responses=errors(403))
async def list_users(
    _admin: AdminUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[User]:
    result = await db.scalars(select(User).order_by(User.created_at, User.id).limit(limit).offset(offset))
    return list(result)


@router.patch(
    "/{user_id}",
    response_model=UserOut,
    responses={
        **errors(403),
        404: error(404, "No user has this id."),
        409: error(409, "An admin cannot disable their own account."),
    },
)
async def update_user(user_id: uuid.UUID, body: AdminUserUpdateIn, admin: AdminUser, accounts: Accounts) -> User:
    try:
        return await accounts.set_active(admin, user_id, active=body.is_active)
    except UserNotFoundError:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="User not found.") from None
    except SelfLockoutError:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="Admins cannot disable themselves.") from None
