"""Items owned by their creator: every query is scoped to the caller, so another user's item is simply not found.

Writes are single conditional statements that say whether they matched a row: a PATCH or DELETE that lost a race
with a DELETE of the same item answers 404, as if it had come a moment later, never a 500 (H09).

The statuses every route shares (401 without a token among them) are declared by api/openapi.py; a route's own are
in its `responses=`.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import delete, select, update

from ...models import Item
from ...schemas import ItemCreateIn, ItemOut, ItemUpdateIn
from ..deps import CurrentCaller, DbSession
from ..responses import errors

router = APIRouter(prefix="/items", tags=["items"])

NOT_FOUND = HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Item not found.")


async def _owned_item(db: DbSession, owner_id: uuid.UUID, item_id: uuid.UUID) -> Item:
    item = await db.scalar(select(Item).where(Item.id == item_id, Item.owner_id == owner_id))
    if item is None:
        raise NOT_FOUND
    return item


@router.get("", response_model=list[ItemOut])
async def list_items(
    caller: CurrentCaller,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[Item]:
    statement = select(Item).where(Item.owner_id == caller.id).order_by(Item.created_at, Item.id)
    return list(await db.scalars(statement.limit(limit).offset(offset)))


@router.post("", response_model=ItemOut, status_code=status.HTTP_201_CREATED)
async def create_item(body: ItemCreateIn, caller: CurrentCaller, db: DbSession) -> Item:
    item = Item(owner_id=caller.id, title=body.title, description=body.description)
    db.add(item)
    await db.commit()
    return item


@router.get("/{item_id}", response_model=ItemOut, responses=errors(404))
async def read_item(item_id: uuid.UUID, caller: CurrentCaller, db: DbSession) -> Item:
    return await _owned_item(db, caller.id, item_id)


@router.patch("/{item_id}", response_model=ItemOut, responses=errors(404))
async def update_item(item_id: uuid.UUID, body: ItemUpdateIn, caller: CurrentCaller, db: DbSession) -> Item:
    item = await _owned_item(db, caller.id, item_id)
    changes = body.model_dump(exclude_none=True)
    if changes:
        # Not a change to `item` flushed by the ORM, which raises StaleDataError (a 500) when a DELETE removed the
        # row since it was read: the same UPDATE, whose row count tells. "evaluate" applies it to `item` as well.
        updated = await db.execute(
            update(Item)
            .where(Item.id == item.id, Item.owner_id == caller.id)
            .values(**changes)
            .execution_options(synchronize_session="evaluate")
        )
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            raise NOT_FOUND
    await db.commit()
    return item


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def delete_item(item_id: uuid.UUID, caller: CurrentCaller, db: DbSession) -> Response:
    # One statement, scoped to the owner: of two racing DELETEs, the one that removed nothing answers 404.
    deleted = await db.execute(
        delete(Item).where(Item.id == item_id, Item.owner_id == caller.id).execution_options(synchronize_session=False)
    )
    if deleted.rowcount != 1:  # type: ignore[attr-defined]
        raise NOT_FOUND
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
