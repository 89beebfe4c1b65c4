"""Items owned by their creator: every query is scoped to the caller, so another user's item is simply not found."""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select

from ...models import Item, User
from ...schemas import ItemCreateIn, ItemOut, ItemUpdateIn
from ..deps import CurrentUser, DbSession

router = APIRouter(prefix="/items", tags=["items"])

NOT_FOUND = HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Item not found.")


async def _owned_item(db: DbSession, owner: User, item_id: uuid.UUID) -> Item:
    item = await db.scalar(select(Item).where(Item.id == item_id, Item.owner_id == owner.id))
    if item is None:
        raise NOT_FOUND
    return item


@router.get("", response_model=list[ItemOut])
async def list_items(
    user: CurrentUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[Item]:
    statement = select(Item).where(Item.owner_id == user.id).order_by(Item.created_at, Item.id)
    return list(await db.scalars(statement.limit(limit).offset(offset)))


@router.post("", response_model=ItemOut, status_code=status.HTTP_201_CREATED)
async def create_item(body: ItemCreateIn, user: CurrentUser, db: DbSession) -> Item:
    item = Item(owner_id=user.id, title=body.title, description=body.description)
    db.add(item)
    await db.commit()
    return item


@router.get("/{item_id}", response_model=ItemOut)
async def read_item(item_id: uuid.UUID, user: CurrentUser, db: DbSession) -> Item:
    return await _owned_item(db, user, item_id)


@router.patch("/{item_id}", response_model=ItemOut)
async def update_item(item_id: uuid.UUID, body: ItemUpdateIn, user: CurrentUser, db: DbSession) -> Item:
    item = await _owned_item(db, user, item_id)
    if body.title is not None:
        item.title = body.title
    if body.description is not None:
        item.description = body.description
    await db.commit()
    return item


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(item_id: uuid.UUID, user: CurrentUser, db: DbSession) -> Response:
    await db.delete(await _owned_item(db, user, item_id))
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
