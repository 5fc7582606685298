"""The web face's errors: ``ApiError`` and the messages and statuses the routes fail with.

A leaf: it imports nothing back from the routes or the server, so every route, the security
middleware and the server's error handlers can use it. The server turns an ``ApiError`` into
the contract's JSON error (docs/web-contract.md).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from app.services import NotReady
from rag.archive.manifest import Manifest
from rag.config import Settings
from rag.errors import InputError, ModelError, NewsragError, StoreError

from .present import error_json


class ApiError(Exception):
    """A request that fails in a way the person can understand: status, code, message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = error_json(self.code, self.message, self.field)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def unavailable(err: NewsragError, settings: Settings) -> ApiError:
    if isinstance(err, NotReady):
        return ApiError(503, "not_ready", str(err), headers={"Retry-After": "5"})
    if isinstance(err, StoreError) and not (settings.index_dir / Manifest.FILENAME).exists():
        return ApiError(503, "no_index", str(err))
    return ApiError(503, "not_ready", str(err))


def answering_error(err: NewsragError) -> ApiError:
    """An error raised while answering, as the status a client can act on."""
    if isinstance(err, ModelError):
        return ApiError(502, "llm_unreachable", str(err))
    if isinstance(err, StoreError):
        return ApiError(503, "not_ready", str(err))
    if isinstance(err, InputError):
        return ApiError(422, "validation", str(err))
    return ApiError(500, "internal", str(err))


def validation_message(errors: Any) -> tuple[str, str | None]:
    """FastAPI's validation errors as one readable sentence naming each field."""
    parts: list[str] = []
    fields: list[str] = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        kind = e.get("type", "")
        if kind == "json_invalid":
            parts.append("the body is not valid JSON")
            field = "body"
        elif kind == "missing":
            parts.append(f"{field} is required")
        else:
            parts.append(f"{field}: {str(e.get('msg', 'invalid')).removeprefix('Value error, ')}")
        fields.append(field)
    message = "Invalid request: " + "; ".join(parts) + "."
    return message, fields[0] if fields else None


def too_large_message(settings: Settings) -> str:
    return (
        f"The upload is larger than {settings.admin_max_upload_mb:g} MB "
        "(NEWSRAG_ADMIN_MAX_UPLOAD_MB on the server): ingest the folders one by one, or raise "
        "the limit."
    )
