"""The ceiling: a bare Starlette route answering a small constant JSON body. No auth, no database."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {
    "id": "00000000-0000-4000-8000-000000000000",
    "email": "bench@example.com",
    "full_name": None,
    "is_active": True,
    "is_admin": False,
    "created_at": "2025-01-01T00:00:00Z",
}


async def me(_request: Request) -> JSONResponse:
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/api/v1/users/me", me)])
