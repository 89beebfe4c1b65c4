"""Your routes, mounted under /api/v1.

Depend on `..api.deps.CurrentUser` to require a logged-in user. A route meant for anonymous callers says so with
`openapi_extra=PUBLIC` (from `..api.deps`); the access-control test fails on any other route that answers without
a token.
"""

from fastapi import APIRouter

router = APIRouter()
