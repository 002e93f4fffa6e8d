"""/docs (Swagger UI) and /redoc, served with their assets by this app: they work with no internet.

The assets are the swagger-ui-dist and ReDoc bundles shipped by the `fastapi-offline` package
(`fastapi_offline/static`); only its files are used, not its code."""

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
# Nothing leaves the server, whatever the bundles reference (ReDoc's sidebar links a logo on its CDN).
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:")


def _asset_dir() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "static"
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def install_docs(app: FastAPI) -> None:
    """The two documentation pages, pointing at assets under ASSETS (never a CDN)."""
    assets = _asset_dir()
    if assets is None:  # an install without the assets: say so rather than load them from a CDN
        missing = HTMLResponse("<p>API docs need the fastapi-offline package (pip install fastapi-offline); "
                               "the schema is at <a href=/openapi.json>/openapi.json</a>.</p>", status_code=503)
        app.get("/docs", include_in_schema=False)(lambda: missing)
        app.get("/redoc", include_in_schema=False)(lambda: missing)
        return
    redoc_js = (assets / "redoc.standalone.js").read_text(encoding="utf-8")
    # the one asset a bundle fetches from a CDN: ReDoc's sidebar logo, served from here instead
    redoc_js = redoc_js.replace("https://cdn.redoc.ly/redoc/logo-mini.svg", f"{ASSETS}/favicon.png")

    @app.get(f"{ASSETS}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(redoc_js, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})

    app.mount(ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url, title="grader - API docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = CSP
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url=app.openapi_url, title="grader - API docs",
                              redoc_js_url=f"{ASSETS}/redoc.standalone.js", redoc_favicon_url=f"{ASSETS}/favicon.png",
                              with_google_fonts=False)
        page.headers["Content-Security-Policy"] = CSP
        return page
