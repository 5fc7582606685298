"""``newsrag ingest --server URL PATH...``: an ingest through a running server's admin route.

The files are found here as a local ingest finds them (the same folders walked, the same files
skipped), described with their paths on this machine (so their articles get the same ids as a
local ingest would give them: ingest/uploads.py) and streamed in one upload. The server ingests
them into the index it serves and streams its progress back; the summary is the one a local
ingest prints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from ingest.sources import discover
from ingest.sync import Counts, IngestReport
from ingest.uploads import describe
from rag.errors import ConfigError, IndexBusyError, InputError, NewsragError

from .ingest_view import print_summary, progress_bar

UPLOAD_TIMEOUT_S = 600.0  # no byte for this long: the server is gone (it streams progress)


class _LazyFile:
    """A file httpx reads for the upload, opened only when its turn comes (so an upload of
    many files never holds them all open)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._f: IO[bytes] | None = None
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if self._f is None:
            self._f = self.path.open("rb")
            self._f.seek(self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        if not data or self._pos >= self.size:
            self._f.close()
            self._f = None
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = base + offset
        if self._f is not None:
            self._f.seek(self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos


def run_remote_ingest(
    server: str,
    key: str | None,
    paths: Sequence[Path],
    *,
    field_map: Mapping[str, str],
    prune: bool,
    quiet: bool = False,
    client: Any = None,
) -> IngestReport:
    """``client``: an ``httpx.Client`` to send with (tests pass the app's TestClient)."""
    import httpx

    if not key:
        raise ConfigError(
            "`newsrag ingest --server` needs the server's admin key: set NEWSRAG_ADMIN_KEY "
            "(one of the server's NEWSRAG_ADMIN_KEYS) or pass --key."
        )
    server = server.rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"--server {server!r} must start with http:// or https://.")
    files, problems = discover(paths)
    meta = {
        "files": [asdict(s) for s in describe(files)],
        "field_map": dict(field_map) or None,
        "prune_roots": [str(Path(p).resolve()) for p in paths] if prune else None,
    }
    # a file's name on the server says its type; its path here travels in meta
    upload: list[tuple[str, Any]] = [
        ("files", (f.name, _LazyFile(f), "application/octet-stream")) for f in files
    ]
    err = Console(stderr=True, highlight=False)
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/x-ndjson"}
    timeout = httpx.Timeout(30.0, read=UPLOAD_TIMEOUT_S, write=UPLOAD_TIMEOUT_S)
    report: IngestReport | None = None
    try:
        with (
            nullcontext(client) if client else httpx.Client(timeout=timeout) as http,
            http.stream(
                "POST", f"{server}/api/admin/ingest", headers=headers,
                data={"meta": json.dumps(meta, ensure_ascii=False)}, files=upload,
            ) as response,
        ):  # fmt: skip
            if response.status_code != 200:
                response.read()
                raise refused(server, response.status_code, response_json(response))
            with progress_bar(err, quiet) as update:
                for event in ndjson_events(response.iter_lines()):
                    if "progress" in event:
                        update(Counts(**event["progress"]))
                    elif "report" in event:
                        report = IngestReport.from_json(event["report"], extra=problems)
                    else:
                        raise refused(server, 500, event)
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"Cannot reach the newsrag server at {server} ({type(exc).__name__}: {exc}): is "
            "`newsrag serve` running there, and is the URL right?"
        ) from exc
    if report is None:
        raise NewsragError(
            f"The server at {server} ended the ingest without a report; see its log."
        )
    print_summary(Console(highlight=False), report, server)
    return report


def refused(server: str, status: int, body: Any, what: str = "ingest") -> NewsragError:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    message = f"The server at {server} refused the {what} ({status}): " + str(
        error.get("message") or "no reason given; see its log."
    )
    if status in (401, 403):
        return ConfigError(message)
    if status == 409 and error.get("code") in ("busy", None):
        return IndexBusyError(message)
    if status == 422:
        return InputError(message)
    return NewsragError(message)


def response_json(response: Any) -> Any:
    """The response's JSON body, or {} when it has none (a proxy's HTML error page)."""
    try:
        return response.json()
    except ValueError:
        return {}


def ndjson_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The events of an NDJSON stream (the admin routes' progress), one per non-blank line."""
    for line in lines:
        if line.strip():
            yield json.loads(line)
