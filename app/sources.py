"""The followed sources as operations: add, remove, list with counts, what is due; no printing.

``newsrag sources`` and ``newsrag sync`` (ui/sources_view.py prints them on a terminal), the
admin routes and the background sync (app/sync_scheduler.py) all use these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.registry import Source, SourceRegistry, format_every, parse_every
from ingest.sync import is_web_path
from rag.archive.manifest import Manifest
from rag.config import Settings
from rag.errors import InputError


def add_source(settings: Settings, location: str, *, every: str, name: str | None) -> Source:
    """Check ``location`` (an http(s) URL, or a folder or file that exists) and follow it."""
    every_seconds = parse_every(every)
    where = location.strip()
    if where.lower().startswith(("http://", "https://")):
        host = urlsplit(where).hostname
        if not host:
            raise InputError(
                f"{location!r} has no host name: write e.g. https://example.org/feed.xml"
            )
        kind, wanted = "web", host.removeprefix("www.")
    elif "://" in where:
        raise InputError(
            f"{location!r}: only http:// and https:// addresses can be followed (or a folder)."
        )
    else:
        path = Path(where).expanduser()
        if not path.exists():
            looks_like_host = "." in where.split("/")[0] and not where.startswith((".", "/"))
            hint = f" (for a web address write https://{where})" if looks_like_host else ""
            raise InputError(
                f"{location}: no such folder or file{hint}; give a folder of articles, or the "
                "http(s) URL of a feed, a sitemap or a site."
            )
        kind, where, wanted = "folder", str(path.resolve()), path.resolve().name
    with SourceRegistry(settings.index_dir) as registry:
        return registry.add(
            where, kind=kind, every_seconds=every_seconds, name=name or registry.unique_name(wanted)
        )


def remove_source(settings: Settings, name: str) -> Source:
    if not SourceRegistry.exists(settings.index_dir):
        raise InputError(f"no sources in {settings.index_dir}: nothing to remove.")
    with SourceRegistry(settings.index_dir) as registry:
        return registry.remove(name)


def list_sources(settings: Settings) -> list[dict[str, Any]]:
    """Every source with its schedule, its last sync and how many stored articles it gave."""
    if not SourceRegistry.exists(settings.index_dir):
        return []
    with SourceRegistry(settings.index_dir) as registry:
        sources = registry.all()
        counts = article_counts(settings.index_dir, registry, sources)
    rows = []
    for s in sources:
        articles = counts[s.name]
        last = s.last
        rows.append(
            {
                "name": s.name,
                "kind": s.kind,
                "detected": s.detected,
                "location": s.location,
                "every": format_every(s.every_seconds),
                "every_seconds": s.every_seconds,
                "added_at": _iso(s.added_at),
                "last_sync_at": _iso(s.last_sync_at),
                "last_ok_at": _iso(s.last_ok_at),
                "next_sync_at": _iso(s.due_at()) if s.last_sync_at else None,
                "articles": articles,
                "last_sync": None
                if last is None
                else {
                    "reached": last.reached,
                    "seconds": round(last.seconds, 2),
                    "listed": last.listed,
                    "fetched": last.fetched,
                    "not_modified": last.not_modified,
                    "added": last.added,
                    "updated": last.updated,
                    "unchanged": last.unchanged + last.skipped_unchanged,
                    "left_for_next": last.left_for_next,
                    "requests": last.requests,
                    "problems": [
                        {"url": p.path, "reason": p.reason, "warning": p.warning}
                        for p in last.problems
                    ],
                },
            }
        )
    return rows


def article_counts(
    index_dir: Path, registry: SourceRegistry, sources: Sequence[Source]
) -> dict[str, int]:
    """How many stored articles each source gave: a web source's pages that are stored, a
    folder's files under it. Reads every article id once (the manifest's own connection)."""
    given = {s.name: registry.article_ids(s.name) for s in sources if s.kind == "web"}
    stored: set[str] = set()
    paths: list[str] = []
    if (index_dir / Manifest.FILENAME).exists():
        manifest = Manifest(index_dir)
        try:
            stored = {i for i, (_, state) in manifest.hashes().items() if state == "done"}
            if any(s.kind == "folder" for s in sources):
                paths = [p for _, p in manifest.ids_with_paths() if not is_web_path(p)]
        finally:
            manifest.close()
    counts = {}
    for s in sources:
        if s.kind == "web":
            counts[s.name] = len(given.get(s.name, set()) & stored)
        else:
            root = s.location.rstrip("/")
            counts[s.name] = sum(1 for p in paths if p == root or p.startswith(root + "/"))
    return counts


def due_message(settings: Settings) -> str | None:
    """Why there is nothing to sync (no sources, or none due), or None when some are due."""
    if not SourceRegistry.exists(settings.index_dir):
        return None
    with SourceRegistry(settings.index_dir) as registry:
        sources = registry.all()
        if not sources or registry.due():
            return None
        wait = registry.next_due_in() or 0.0
        first = min(sources, key=lambda s: s.due_at())
    return (
        f"nothing due: the next is {first.name} in {duration(wait)}; "
        f"`newsrag sync {first.name}` syncs it now (or `newsrag sync --all`)."
    )


def check_names(settings: Settings, names: Sequence[str]) -> None:
    """InputError for a name that is not a source, before any model is loaded."""
    with SourceRegistry(settings.index_dir) as registry:
        for name in names:
            registry.require(name)


def has_sources(settings: Settings) -> bool:
    if not SourceRegistry.exists(settings.index_dir):
        return False
    with SourceRegistry(settings.index_dir) as registry:
        return bool(registry.all())


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
