"""``newsrag sync --server URL [NAME...]``: a sync of a running server's sources, through it.

The server syncs with its own writer (POST /api/admin/sync) and streams its progress back; the
summary is the one a local ``newsrag sync`` prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from rich.console import Console
from rich.markup import escape

from ingest.source_sync import SyncReport
from rag.errors import ConfigError, NewsragError

from .remote_ingest import UPLOAD_TIMEOUT_S, ndjson_events, refused, response_json
from .sources_view import print_sync_summary


def run_remote_sync(
    server: str,
    key: str | None,
    names: Sequence[str],
    *,
    force: bool,
    quiet: bool = False,
    client: Any = None,
) -> tuple[SyncReport, str | None]:
    """The server's sync report, and its message when nothing was due.

    ``client``: an ``httpx.Client`` to send with (tests pass the app's TestClient)."""
    import httpx

    if not key:
        raise ConfigError(
            "`newsrag sync --server` needs the server's admin key: set NEWSRAG_ADMIN_KEY "
            "(one of the server's NEWSRAG_ADMIN_KEYS) or pass --key."
        )
    server = server.rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"--server {server!r} must start with http:// or https://.")
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/x-ndjson"}
    timeout = httpx.Timeout(30.0, read=UPLOAD_TIMEOUT_S)
    body = {"names": list(names), "force": force}
    err = Console(stderr=True, highlight=False)
    data: dict[str, Any] | None = None
    try:
        with (
            nullcontext(client) if client else httpx.Client(timeout=timeout) as http,
            http.stream("POST", f"{server}/api/admin/sync", headers=headers, json=body) as response,
            err.status(f"syncing through {escape(server)}…", spinner="dots") as status,
        ):
            if response.status_code != 200:
                response.read()
                raise refused(server, response.status_code, response_json(response), what="sync")
            for event in ndjson_events(response.iter_lines()):
                if "progress" in event:
                    if not quiet:
                        status.update(f"syncing {escape(str(event['progress']))}")
                elif "report" in event:
                    data = event["report"]
                else:
                    raise refused(server, 500, event, what="sync")
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"Cannot reach the newsrag server at {server} ({type(exc).__name__}: {exc}): is "
            "`newsrag serve` running there, and is the URL right?"
        ) from exc
    if data is None:
        raise NewsragError(f"The server at {server} ended the sync without a report; see its log.")
    return SyncReport.from_json(data), data.get("message")


def print_remote_summary(
    console: Console, report: SyncReport, message: str | None, server: str
) -> None:
    if not report.sources:
        console.print(message or "nothing was due.", soft_wrap=True)
        return
    print_sync_summary(console, report, server)
