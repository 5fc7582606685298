"""``POST /api/admin/backup``: a consistent copy of the served index, sent back as a tar stream.

While ``newsrag serve`` holds an embedded index, no other process may stop its writes, so the
backup is made by the server: inside its one writer (``Services.no_writes``: an admin ingest or
a sync waits, a background sync tries again 10 s later) it copies the index into a folder beside
it (rag/archive/backup.py), lets writes go on, then streams that folder as an uncompressed tar and
deletes it. Questions are answered all along. ``newsrag backup DIR --server URL`` unpacks the
stream into DIR and checks every file against the backup's own list (ui/backup_view.py).

Needs an admin key, like every ``/api/admin/`` route (ui/web/admin.py). With a Chroma server the
vectors are not in the index folder: 409, the README says what to back up instead.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import StreamingResponse

from rag.archive.backup import BackupInfo, backup_index
from rag.errors import IndexBusyError

from .admin import busy, check_admin
from .deps import engine_of, services_of
from .errors import ApiError

router = APIRouter()
CHUNK = 1 << 20


@router.post("/api/admin/backup", tags=["admin"], response_class=StreamingResponse)
async def admin_backup(request: Request) -> StreamingResponse:
    """A consistent copy of the served index as a tar stream (`newsrag backup DIR --server
    URL`); writes wait while it is copied, questions do not. Needs an admin key."""
    check_admin(request)
    services = services_of(request)
    settings = services.settings
    engine_of(request)  # 503 while the archive loads
    if settings.chroma_url:
        raise ApiError(
            409,
            "unsupported",
            "This server's vectors live in the Chroma server (NEWSRAG_CHROMA_URL), not in the "
            "index folder: back up the Chroma server's data and the index folder together "
            "while no ingest runs (README, Deployment).",
        )
    index_dir = settings.index_dir.resolve()
    try:
        scratch = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}-backup-", dir=index_dir.parent))
    except OSError as err:
        raise ApiError(
            500,
            "backup_failed",
            f"The server cannot write its copy beside the index, in {index_dir.parent} "
            f"({err.strerror}): let the server's user write there, or back up with the server "
            "stopped (`newsrag backup DIR --index INDEX`).",
        ) from err

    def copy() -> BackupInfo:
        with services.no_writes("backup"):
            return backup_index(index_dir, scratch / "backup")

    try:
        info = await run_in_threadpool(copy)
    except IndexBusyError as err:
        shutil.rmtree(scratch, ignore_errors=True)
        raise busy(err) from err
    except OSError as err:  # a full disk, most likely: the copy needs the index's size again
        shutil.rmtree(scratch, ignore_errors=True)
        raise ApiError(
            500, "backup_failed", f"The copy beside the index failed ({err}); nothing was kept."
        ) from err
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return StreamingResponse(
        iterate_in_threadpool(_tar_stream(info.path, scratch)),
        media_type="application/x-tar",
        headers={
            "X-Newsrag-Backup": f"{info.articles} articles, {info.chunks} chunks",
            "Cache-Control": "no-store",
        },
    )


def _tar_stream(folder: Path, scratch: Path) -> Iterator[bytes]:
    """``folder``'s files as a tar, a megabyte at a time (a header, the file, its padding:
    memory stays flat whatever the index's size); ``scratch`` is deleted after."""
    try:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
            yield info.tobuf(format=tarfile.PAX_FORMAT)
            with path.open("rb") as f:
                while block := f.read(CHUNK):
                    yield block
            if info.size % tarfile.BLOCKSIZE:
                yield b"\0" * (tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE)
        yield b"\0" * (2 * tarfile.BLOCKSIZE)  # the end of the archive
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
