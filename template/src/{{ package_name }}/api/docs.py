"""Interactive API docs that work offline and under the CSP: Swagger UI's files are served by the app itself."""

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"

_SWAGGER = files("fastapi_offline").joinpath("static")
_ASSETS = {
    "swagger-ui-bundle.js": _SWAGGER.joinpath("swagger-ui-bundle.js"),
    "swagger-ui.css": _SWAGGER.joinpath("swagger-ui.css"),
    "favicon.png": _SWAGGER.joinpath("favicon.png"),
    "docs-init.js": files(__package__.rpartition(".")[0] + ".static").joinpath("docs-init.js"),
}


def docs_router(title: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - API docs</title>
<link rel="icon" href="{DOCS_PATH}/assets/favicon.png">
<link rel="stylesheet" href="{DOCS_PATH}/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{OPENAPI_PATH}"></div>
<script src="{DOCS_PATH}/assets/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/assets/docs-init.js"></script>
</body>
</html>
"""

    @router.get(DOCS_PATH)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @router.get(DOCS_PATH + "/assets/{name}")
    async def asset(name: str) -> FileResponse:
        resource = _ASSETS.get(name)
        if resource is None:
            raise HTTPException(status_code=404, detail="Not Found")
        return FileResponse(Path(str(resource)), headers={"Cache-Control": "public, max-age=86400"})

    return router
