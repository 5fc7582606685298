"""The web server: the Gradio chat at ``/``, the HTTP API, the widget and the article pages.

``create_app`` builds the FastAPI app from settings; ``serve`` runs it with uvicorn. The
engine loads in a background thread when the app starts, so ``/healthz`` answers at once and
``/readyz`` says 503 (with the reason: still loading, no index yet…) until it can answer.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response

from app.feedback import FeedbackStore
from app.quiet import quiet_phone_home
from app.ratelimit import RateLimiter
from app.services import Services
from rag.archive.manifest import Manifest
from rag.archive.writer_lock import WriterLock
from rag.config import Settings
from rag.errors import ConfigError, NewsragError

from . import admin, admin_backup, api, article_page, metrics, openai_models
from .errors import ApiError, unavailable, validation_message
from .present import error_json
from .security import SecurityMiddleware
from .session import Sessions

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SESSION_PLACEHOLDER = "__NEWSRAG_SESSION__"
HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden_origin",
    404: "not_found",
    405: "not_found",
    413: "too_large",
    422: "validation",
    429: "rate_limited",
}


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """The whole web app over ``services`` (built from ``settings`` when not given)."""
    quiet_phone_home(offline=True)
    if settings is None:
        settings = services.settings if services is not None else Settings.model_validate({})
    if services is None:
        services = Services(settings)
    feedback = FeedbackStore.for_index(settings.index_dir)
    limiter = RateLimiter(settings.rate_limit_per_minute)
    sessions = Sessions.for_settings(settings)
    # the contract (docs/web-contract.md): the chat page reaches these through services
    services.feedback = feedback
    services.limiter = limiter
    services.metrics = counts = metrics.Metrics(services)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.start()
        yield
        services.close()

    app = FastAPI(
        title="newsrag",
        summary="A chat assistant over a news archive, with cited answers (Italian/English).",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # the default page loads Swagger UI from a CDN: see docs_page below
        redoc_url=None,
    )
    app.state.services = services
    app.state.feedback = feedback
    app.state.limiter = limiter
    app.state.settings = settings
    app.state.metrics = counts
    app.state.sessions = sessions
    install_error_handlers(app)
    app.add_middleware(SecurityMiddleware, settings=settings, limiter=limiter, sessions=sessions)
    # outermost: requests the security checks refuse are counted too
    app.add_middleware(metrics.MetricsMiddleware, metrics=counts, routes=lambda: app.routes)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up (whether or not the archive has loaded)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz() -> dict[str, Any]:
        """200 once questions can be answered; else 503 with the reason."""
        try:
            engine = services.engine()
        except NewsragError as err:
            raise unavailable(err, settings) from err
        return {"status": "ready", "mode": engine.mode}

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        # the script finds the server's address from its own src: no per-request rewriting
        return Response(
            static_file("widget.js").read_text(encoding="utf-8"),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.get("/widget", include_in_schema=False)
    async def widget_page() -> HTMLResponse:
        # framed by pages of other sites, where browsers drop third-party cookies: the page
        # carries its session, and its script sends it back (ui/web/session.py)
        html = static_file("widget.html").read_text(encoding="utf-8")
        html = html.replace(SESSION_PLACEHOLDER, sessions.issue(), 1)
        return HTMLResponse(html, headers={"Cache-Control": "private, no-store"})

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi()))

    app.include_router(metrics.router)
    app.include_router(article_page.router)
    app.include_router(admin.router)  # before api's catch-all for unknown /api paths
    app.include_router(admin_backup.router)
    app.include_router(openai_models.router)  # and for unknown /v1 paths
    app.include_router(api.router)
    mount_chat(app, services)
    return app


def static_file(name: str) -> Path:
    path = STATIC / name
    if not path.is_file():
        raise ApiError(404, "not_found", f"{name} is not installed (expected at {path}).")
    return path


def mount_chat(app: FastAPI, services: Services) -> None:
    """Mounts the Gradio chat page at ``/`` (after every other route, which win).

    Gradio 6 takes theme, css, js and head at mount time, not in ``gr.Blocks()``: the page's
    module passes them as ``MOUNT_OPTIONS`` (keyword arguments of ``gr.mount_gradio_app``).
    """
    if importlib.util.find_spec("ui.web.web_chat") is None:
        log.warning("ui/web/web_chat.py is missing: serving the API without the chat page")
        return
    import gradio as gr

    web_chat = importlib.import_module("ui.web.web_chat")
    options: dict[str, Any] = {"ssr_mode": False}  # no Node server
    options.update(getattr(web_chat, "MOUNT_OPTIONS", {}))
    gr.mount_gradio_app(app, web_chat.build_chat(services), path="/", **options)


# --- errors ---------------------------------------------------------------------------------
def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as the contract's JSON: {"error": {"code", "message"}}."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = validation_message(exc.errors())
        return JSONResponse(error_json("validation", message, field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's 400 for a JSON body
            message = "Invalid request: the body is nested too deeply to be read."
            return JSONResponse(error_json("validation", message, "body"), status_code=422)
        code = HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(
            error_json(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return JSONResponse(
            error_json("internal", "Unexpected error; the server log has the details."),
            status_code=500,
        )


# --- /docs ----------------------------------------------------------------------------------
def render_docs(schema: dict[str, Any]) -> str:
    """The API reference as one self-contained page (no CDN: the intranet may be offline)."""
    from html import escape

    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = ", ".join(
                escape(p["name"]) + ("" if p.get("required") else "?")
                for p in op.get("parameters", [])
            )
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            doc = escape(op.get("description") or op.get("summary") or "")
            rows.append(
                f"<tr><td><code>{method.upper()} {escape(path)}</code></td>"
                f"<td>{escape(ref) or params}</td><td>{doc}</td></tr>"
            )
    models = []
    for name, model in schema.get("components", {}).get("schemas", {}).items():
        fields = ", ".join(
            escape(f) + ("" if f in model.get("required", []) else "?")
            for f in model.get("properties", {})
        )
        models.append(f"<li><code>{escape(name)}</code>: {fields}</li>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>newsrag API</title>'
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;"
        "padding:0 1rem}td{vertical-align:top;padding:.3rem .6rem;border-top:1px solid #ddd}"
        "</style></head><body><h1>newsrag API</h1><p>The machine-readable description is at "
        '<a href="/openapi.json">/openapi.json</a>; the contract is docs/web-contract.md.</p>'
        "<table><tr><th>route</th><th>body / parameters</th><th>what it does</th></tr>"
        + "".join(rows)
        + "</table><h2>Bodies</h2><ul>"
        + "".join(models)
        + "</ul></body></html>"
    )


# --- newsrag serve --------------------------------------------------------------------------
def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or a ConfigError that says the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"Port {port} on {host} is already in use: stop the other server or choose "
                "another port with --port (env NEWSRAG_PORT)."
            ) from None
        raise ConfigError(f"Cannot listen on {host}:{port} ({err.strerror}).") from None
    sock.set_inheritable(True)
    return sock


def server_url(settings: Settings) -> str:
    """Where people reach this server: the public URL, else the address it listens on."""
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return settings.public_url or f"http://{shown}:{settings.port}"


def serve(settings: Settings, *, log_level: str = "info", json_logs: bool = False) -> None:
    """Runs the app with uvicorn until interrupted, on ``settings.host:settings.port``.

    On an embedded index that exists (or that it creates, to fill it from the index's sources),
    the server holds the index's writer lock while it runs (rag/archive/writer_lock.py): another
    process's writes would not reach its open Chroma client, so they go through its admin
    routes instead. With a Chroma server it holds no lock: separate
    ingest processes write, and this server follows them (rag/archive/refresh.py).
    """
    import uvicorn

    sock = bind(settings.host, settings.port)
    services = Services(settings, url=server_url(settings))
    exists = (settings.index_dir / Manifest.FILENAME).exists()
    if not settings.chroma_url and (exists or services.fills_itself()):
        services.writer_lock = WriterLock(settings.index_dir).acquire("serve", url=services.url)
    try:
        app = create_app(settings, services=services)
        # with JSON logs uvicorn configures no handlers of its own: its lines reach the root
        # logger's JSON one (ui/cli.py configure_logging)
        # with JSON logs uvicorn configures no handlers of its own: its lines reach the root
        # logger's JSON one (ui/cli.py configure_logging)
        from uvicorn.config import LOGGING_CONFIG

        config = uvicorn.Config(
            app, log_level=log_level, timeout_graceful_shutdown=5,
            log_config=None if json_logs else LOGGING_CONFIG,
        )  # fmt: skip
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if services.writer_lock is not None:
            services.writer_lock.release()
