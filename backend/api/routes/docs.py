"""``/openapi.json`` and ``/docs``: the API describing itself, offline.

The document is generated once at start-up (after every route is
registered) and served as-is; the docs page is a static file shipped in the
package that renders it in the browser.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from backend.api.context import OPENAPI_DOC
from backend.api.spec import operation
from backend.schemas import OpenApiDocument

routes = web.RouteTableDef()

# The page is self-contained: inline script and style, data only from this origin.
_CSP = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"
DOCS_PAGE = Path(__file__).resolve().parent.parent / "static" / "docs.html"


@routes.get("/openapi.json")
@operation("This OpenAPI 3.1 document", tag="meta", responses={200: OpenApiDocument}, auth=False)
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_DOC])


@routes.get("/docs")
@operation(
    "Browsable API documentation (HTML, no external assets)",
    tag="meta",
    responses={200: None},
    auth=False,
    media_type="text/html",
)
async def docs_page(request: web.Request) -> web.Response:
    return web.Response(
        body=DOCS_PAGE.read_bytes(),
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": _CSP},
    )
