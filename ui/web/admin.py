"""The admin routes: writing the served index (``newsrag ingest --server URL`` uses them).

While ``newsrag serve`` holds an embedded index, it is the one process that may write it
(rag/archive/writer_lock.py), so new articles reach it through here. Every admin route needs one of
``NEWSRAG_ADMIN_KEYS`` (or, when those are unset, of ``NEWSRAG_API_KEYS``) as ``Authorization:
Bearer KEY`` or ``X-API-Key``; with neither set the routes are refused: they are never open by
default, and a page's session (ui/web/session.py) counts for nothing here. The key is checked before
the body is read.

``POST /api/admin/sync`` syncs the index's sources through the server's writer (the
background sync's path, app/sync_scheduler.py); its body is optional: ``{"names": [...],
"force": bool}``. It answers with the sync report (``newsrag sync --server`` prints it), or a
409 while another write runs or when the index follows no sources, and streams progress lines
like the ingest when asked to.

``POST /api/admin/ingest`` takes a multipart body: ``meta``, a JSON object ``{"files": [{"where",
"file_id"}, …], "field_map": {…} | null, "prune_roots": [...] | null}`` (each uploaded file's
path on the sending machine, see ingest/uploads.py), and the ``files`` parts in the same order.
It answers with the ingest report as JSON, or, when the request accepts
``application/x-ndjson``, with one ``{"progress": …}`` line per step and a last ``{"report": …}``
(or ``{"error": …}``) line, which keeps a long ingest's connection alive through proxies. When
it answers, questions are answered from what it wrote.
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, StreamingResponse

from app.sources import check_names, due_message, has_sources
from ingest.sync import Counts, IngestReport
from ingest.uploads import Received, Sent, ingest_received, receive
from rag.config import Settings
from rag.errors import IndexBusyError, InputError, NewsragError

from .deps import engine_of, services_of
from .errors import ApiError, answering_error, too_large_message, validation_message
from .input_checks import text_problem
from .present import error_json
from .security import BodyTooLarge, sent_key

log = logging.getLogger(__name__)
router = APIRouter()

MAX_FILES = 200_000  # per upload; the size limit (NEWSRAG_ADMIN_MAX_UPLOAD_MB) binds first
MAX_META_BYTES = 256 << 20
PROGRESS_EVERY_S = 0.5
NDJSON = "application/x-ndjson"


def admin_keys(settings: Settings) -> list[str]:
    keys = settings.admin_keys or settings.api_keys
    return [k.get_secret_value() for k in keys]


def check_admin(request: Request) -> None:
    """The request carries an admin key, or an ApiError says what is missing."""
    keys = admin_keys(services_of(request).settings)
    if not keys:
        raise ApiError(
            403,
            "admin_disabled",
            "The admin routes are off on this server: set NEWSRAG_ADMIN_KEYS (or "
            "NEWSRAG_API_KEYS) in its environment and restart it.",
        )
    sent = sent_key(request.headers)
    if sent is None:
        raise ApiError(
            401,
            "unauthorized",
            "An admin key is required: send it as `Authorization: Bearer KEY` or "
            "`X-API-Key: KEY` (`newsrag ingest --server` reads it from NEWSRAG_ADMIN_KEY or "
            "--key).",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not any(hmac.compare_digest(sent, k) for k in keys):
        raise ApiError(
            401, "unauthorized", "The admin key is not valid: use one of NEWSRAG_ADMIN_KEYS."
        )


def busy(err: IndexBusyError) -> ApiError:
    return ApiError(409, "busy", str(err), headers={"Retry-After": "10"})


@router.post("/api/admin/ingest", tags=["admin"], response_model=None)
async def admin_ingest(request: Request) -> JSONResponse | StreamingResponse:
    """Ingests uploaded files (the formats `newsrag ingest` reads) into the served index and
    answers with the ingest report; needs an admin key (see ui/web/admin.py)."""
    check_admin(request)
    services = services_of(request)
    settings = services.settings
    engine_of(request)  # 503 while the archive loads, before the upload is read
    if services.writing:  # and a 409 before it is read, when a write is running here
        raise busy(IndexBusyError(services.busy_message()))
    try:
        form = await request.form(
            max_files=MAX_FILES, max_fields=MAX_FILES + 10, max_part_size=MAX_META_BYTES
        )
    except BodyTooLarge:
        raise ApiError(413, "too_large", too_large_message(settings)) from None
    folder = Path(tempfile.mkdtemp(prefix="newsrag-upload-"))
    try:
        sent, field_map, prune_roots = parse_meta(form.get("meta"))
        uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if len(uploads) != len(sent):
            raise ApiError(
                422, "validation",
                f"meta lists {len(sent)} files but {len(uploads)} were uploaded as `files`.",
                field="files",
            )  # fmt: skip
        received = await run_in_threadpool(
            receive, folder, [(s, u.file) for s, u in zip(sent, uploads, strict=True)]
        )
        await form.close()
        try:
            session = await run_in_threadpool(services.begin_write)
        except IndexBusyError as err:
            raise busy(err) from err
        except NewsragError as err:
            raise answering_error(err) from err
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def work(progress: Any = None) -> IngestReport:
        try:
            return session.run(
                lambda ingestor: ingest_received(
                    ingestor, received, field_map=field_map, max_bytes=settings.max_file_bytes,
                    prune_roots=prune_roots, progress=progress,
                )
            )  # fmt: skip
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    if NDJSON in request.headers.get("accept", ""):
        return ndjson_response(_with_progress(work, len(received)), "ingest")
    try:
        report = await run_in_threadpool(work)
    except NewsragError as err:
        raise answering_error(err) from err
    log.info("admin ingest: %s", _summary(report, received))
    return JSONResponse(report.to_json())


class SyncIn(BaseModel):
    """The optional body of POST /api/admin/sync."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(
        default_factory=list, max_length=1000, description="Sources to sync now (default: due)."
    )
    force: bool = Field(False, description="Sync every source now, due or not.")


@router.post("/api/admin/sync", tags=["admin"], response_model=None)
async def admin_sync(request: Request) -> JSONResponse | StreamingResponse:
    """Syncs the served index's due sources (or ``names`` now, or all with ``force``) and
    answers with the sync report; needs an admin key (see ui/web/admin.py)."""
    check_admin(request)
    services = services_of(request)
    settings = services.settings
    engine_of(request)
    body = await sync_body(request)
    try:
        followed = await run_in_threadpool(has_sources, settings)
    except NewsragError as err:  # a damaged sources file: its message says what to do
        raise ApiError(503, "not_ready", str(err)) from err
    if not followed:
        raise ApiError(
            409, "no_sources",
            f"The index {settings.index_dir} follows no sources: add one on the server's "
            f"machine with `newsrag sources add URL|PATH --index {settings.index_dir}` (this "
            "server notices it by itself), then sync.",
        )  # fmt: skip
    try:
        await run_in_threadpool(check_names, settings, body.names)
    except InputError as err:
        raise ApiError(422, "validation", str(err), field="names") from err
    if services.writing:
        raise busy(IndexBusyError(services.busy_message()))
    try:
        session = await run_in_threadpool(services.begin_write, "sync")
    except IndexBusyError as err:
        raise busy(err) from err
    except NewsragError as err:
        raise answering_error(err) from err

    def work(progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        report = services.syncs.run(
            names=body.names, force=body.force, progress=progress, session=session
        )
        data = report.to_json()
        if not report.sources:
            data["message"] = due_message(settings) or "Nothing was due."
        return data

    if NDJSON in request.headers.get("accept", ""):
        return ndjson_response(work, "sync")
    try:
        return JSONResponse(await run_in_threadpool(work))
    except NewsragError as err:
        raise answering_error(err) from err


async def sync_body(request: Request) -> SyncIn:
    raw = await request.body()
    if not raw.strip():
        return SyncIn.model_validate({})
    try:
        return SyncIn.model_validate_json(raw)
    except ValidationError as err:
        message, field = validation_message(err.errors())
        raise ApiError(422, "validation", message, field=field) from err


def _with_progress(
    work: Callable[..., IngestReport], files: int
) -> Callable[[Callable[[Any], None]], dict[str, Any]]:
    """The ingest, emitting its counts at most every PROGRESS_EVERY_S (and the last ones)."""
    last = [0.0]

    def run(emit: Callable[[Any], None]) -> dict[str, Any]:
        def progress(c: Counts) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or c.files_done == c.files_total:
                last[0] = now
                emit(asdict(c))

        report = work(progress)
        log.info("admin ingest: %d files, %s", files, _counts(report))
        return report.to_json()

    return run


def ndjson_response(
    work: Callable[[Callable[[Any], None]], dict[str, Any]], what: str
) -> StreamingResponse:
    """Starts ``work(emit)`` in a thread of its own at once (it owns the write session, and a
    client that leaves does not stop it) and streams one ``{"progress": …}`` line per
    ``emit``, then ``{"report": …}`` with what it returned, or ``{"error": …}``."""
    events: queue.Queue[dict[str, Any]] = queue.Queue()

    def run() -> None:
        try:
            events.put({"report": work(lambda progress: events.put({"progress": progress}))})
        except IndexBusyError as err:
            e = busy(err)
            events.put(error_json(e.code, e.message))
        except NewsragError as err:
            e = answering_error(err)
            events.put(error_json(e.code, e.message))
        except Exception:
            log.exception("admin %s failed", what)
            events.put(error_json("internal", f"The {what} failed; see the server log."))

    threading.Thread(target=run, name=f"newsrag-admin-{what}", daemon=True).start()

    async def lines() -> AsyncIterator[str]:
        while True:
            event = await run_in_threadpool(events.get)
            yield json.dumps(event, ensure_ascii=False) + "\n"
            if "progress" not in event:
                return

    return StreamingResponse(
        lines(),
        media_type=NDJSON,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def parse_meta(raw: object) -> tuple[list[Sent], dict[str, str] | None, list[str] | None]:
    if not isinstance(raw, str):
        raise ApiError(
            422, "validation",
            "The upload needs a `meta` field: a JSON object listing the files (see /docs).",
            field="meta",
        )  # fmt: skip
    try:
        meta = json.loads(raw)
    except RecursionError:  # a 500 before (issue 15): the client's mistake, said as such
        raise ApiError(
            422, "validation", "meta is nested too deeply: send the object "
            "`newsrag ingest --server` sends, {\"files\": [...], ...}.", field="meta",
        ) from None  # fmt: skip
    except ValueError as err:
        raise ApiError(422, "validation", f"meta is not valid JSON ({err}).", field="meta") from err
    problem = text_problem(meta)
    if problem is not None:
        raise ApiError(422, "validation", f"meta {problem}.", field="meta")
    try:
        if not isinstance(meta, Mapping) or not isinstance(meta.get("files"), list):
            raise InputError('meta must be a JSON object with a "files" list.')
        sent = [Sent.from_json(f, n) for n, f in enumerate(meta["files"])]
        field_map = meta.get("field_map")
        if field_map is not None and not (
            isinstance(field_map, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in field_map.items())
        ):
            raise InputError('meta "field_map" must map field names to column names.')
        roots = meta.get("prune_roots")
        if roots is not None and not (
            isinstance(roots, list) and all(isinstance(r, str) and r for r in roots)
        ):
            raise InputError('meta "prune_roots" must be a list of paths.')
    except InputError as err:
        raise ApiError(422, "validation", str(err), field="meta") from err
    return sent, (dict(field_map) if field_map is not None else None), roots


def _counts(report: IngestReport) -> str:
    return (
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"removed {report.removed}, problems {len(report.problems)}"
    )


def _summary(report: IngestReport, received: list[Received]) -> str:
    return f"{len(received)} files, {_counts(report)}"
